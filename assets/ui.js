// The page's controls around the board: palette bar, status line, connection badge, cooldown
// timer, zoom label and pointer coordinates. No board logic: app.js tells it what to show.

const $ = (id) => document.getElementById(id);

export function hex([r, g, b]) {
  return `#${[r, g, b].map((c) => c.toString(16).padStart(2, '0')).join('').toUpperCase()}`;
}

function clock(ms) {
  const s = Math.ceil(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export class Ui {
  constructor({ select, zoomIn, zoomOut, fit }) {
    this.canvas = $('board');
    this.palette = $('palette');
    this.statusLine = $('status');
    this.badge = $('connection');
    this.zoomLabel = $('zoom-level');
    this.coords = $('coords');
    this.cooldownBox = $('cooldown');
    this.boardName = $('board-name');
    this.onSelect = select;
    this.cooldownUntil = 0;
    this.cooldownTimer = 0;
    $('zoom-in').addEventListener('click', zoomIn);
    $('zoom-out').addEventListener('click', zoomOut);
    $('zoom-fit').addEventListener('click', fit);
  }

  status(text, kind = 'info') {
    this.statusLine.textContent = text;
    this.statusLine.dataset.kind = kind;
  }

  connection(state, text) {
    this.badge.dataset.state = state;
    this.badge.textContent = text;
  }

  board(info) {
    this.boardName.textContent = `${info.id} · ${info.width} × ${info.height}`;
    document.title = `Tessera · ${info.id}`;
  }

  buildPalette(palette, selected) {
    this.palette.replaceChildren(
      ...palette.map((rgb, i) => {
        const swatch = document.createElement('button');
        swatch.type = 'button';
        swatch.className = 'swatch';
        swatch.dataset.testid = `swatch-${i}`;
        swatch.dataset.index = String(i);
        swatch.setAttribute('role', 'radio');
        swatch.title = `${i}: ${hex(rgb)}`;
        swatch.setAttribute('aria-label', `colour ${i}, ${hex(rgb)}`);
        swatch.style.background = hex(rgb);
        swatch.addEventListener('click', () => this.onSelect(i));
        return swatch;
      }),
    );
    this.select(selected);
  }

  select(index) {
    for (const swatch of this.palette.children) {
      swatch.setAttribute('aria-checked', String(Number(swatch.dataset.index) === index));
    }
  }

  zoom(scale, level) {
    const text = scale >= 1 ? `${scale >= 10 ? Math.round(scale) : scale.toFixed(1)}×` : `1:${(1 / scale).toFixed(1)}`;
    this.zoomLabel.textContent = text;
    this.zoomLabel.title = level > 0 ? `overview level ${level} (updated every few seconds)` : 'live';
  }

  pointer(pixel) {
    this.coords.textContent = pixel ? `(${pixel.x}, ${pixel.y})` : '';
  }

  /** Milliseconds until the next paint is allowed (0 when it is). */
  cooldownLeft() {
    return Math.max(0, this.cooldownUntil - Date.now());
  }

  /** Shows a countdown until the server allows the next paint. */
  cooldown(ms) {
    this.cooldownUntil = Date.now() + ms;
    clearInterval(this.cooldownTimer);
    const tick = () => {
      const left = this.cooldownLeft();
      if (left <= 0) {
        clearInterval(this.cooldownTimer);
        this.cooldownTimer = 0;
        this.cooldownBox.hidden = true;
        this.canvas.dataset.waiting = 'false';
        return;
      }
      this.cooldownBox.hidden = false;
      this.cooldownBox.textContent = `Next pixel in ${clock(left)}`;
      this.canvas.dataset.waiting = 'true';
    };
    tick();
    this.cooldownTimer = setInterval(tick, 250);
  }
}
