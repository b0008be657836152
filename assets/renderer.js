// The renderer: one <canvas> filling the stage, drawn from the tiles' bitmaps on
// requestAnimationFrame, and only when something changed (`invalidate()`).
//
// Tile edges are rounded to device pixels so neighbouring tiles never leave a seam, and image
// smoothing is off so board pixels stay crisp squares at any zoom.

const OUTSIDE = '#b8bec4';
const UNLOADED = '#d9dde1';
const HOVER = 'rgba(0, 0, 0, 0.75)';
const HOVER_INNER = 'rgba(255, 255, 255, 0.9)';
/** Frame durations kept for `stats()`. */
const STATS_FRAMES = 240;

export class Renderer {
  /**
   * `draw(layer)` is called once per frame with a `layer` helper; it calls
   * `layer.bitmap(bitmap, scale)` for each bitmap to draw, coarse to fine (`scale`: board pixels
   * per bitmap pixel, 2^level).
   */
  constructor(canvas, draw) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false });
    /** Set once the board is known (`setCamera`). */
    this.camera = null;
    this.draw = draw;
    this.hover = null;
    this.scheduled = false;
    this.frames = 0;
    this.durations = [];
    this.dpr = 1;
  }

  /** Matches the canvas' backing store to its CSS size and the device pixel ratio. */
  resize() {
    const rect = this.canvas.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(rect.width * this.dpr));
    const height = Math.max(1, Math.round(rect.height * this.dpr));
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    this.camera?.resize(rect.width, rect.height);
    this.invalidate();
  }

  setCamera(camera) {
    this.camera = camera;
    this.resize();
  }

  invalidate() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      const start = performance.now();
      this.render();
      this.durations.push(performance.now() - start);
      if (this.durations.length > STATS_FRAMES) this.durations.shift();
      this.frames += 1;
    });
  }

  /** Device-pixel x of board coordinate `bx` (rounded, so shared edges coincide). */
  sx(bx) {
    const c = this.camera;
    return Math.round(((bx - c.x) * c.scale + c.screen.width / 2) * this.dpr);
  }

  sy(by) {
    const c = this.camera;
    return Math.round(((by - c.y) * c.scale + c.screen.height / 2) * this.dpr);
  }

  render() {
    const { ctx, canvas, camera } = this;
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = OUTSIDE;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (!camera) return;
    const bx0 = this.sx(0);
    const by0 = this.sy(0);
    const bx1 = this.sx(camera.board.width);
    const by1 = this.sy(camera.board.height);
    ctx.fillStyle = UNLOADED;
    ctx.fillRect(bx0, by0, bx1 - bx0, by1 - by0);

    const layer = {
      bitmap: (bitmap, scale) => {
        const x0 = this.sx(bitmap.x * scale);
        const y0 = this.sy(bitmap.y * scale);
        // The last tile of a level may cover less than `scale` board pixels per bitmap pixel
        // at the board's edge; clip it there instead of stretching it.
        const x1 = this.sx(Math.min(camera.board.width, (bitmap.x + bitmap.width) * scale));
        const y1 = this.sy(Math.min(camera.board.height, (bitmap.y + bitmap.height) * scale));
        if (x1 <= 0 || y1 <= 0 || x0 >= canvas.width || y0 >= canvas.height) return;
        const sw = Math.min(bitmap.width, (camera.board.width - bitmap.x * scale) / scale);
        const sh = Math.min(bitmap.height, (camera.board.height - bitmap.y * scale) / scale);
        ctx.drawImage(bitmap.drawable(), 0, 0, sw, sh, x0, y0, x1 - x0, y1 - y0);
      },
    };
    this.draw(layer);

    const h = this.hover;
    // An outline needs a pixel at least 2 screen pixels wide to be seen around.
    if (h && camera.scale >= 2) {
      const x0 = this.sx(h.x);
      const y0 = this.sy(h.y);
      const x1 = this.sx(h.x + 1);
      const y1 = this.sy(h.y + 1);
      const w = Math.max(1, Math.round(this.dpr));
      ctx.lineWidth = w;
      ctx.strokeStyle = HOVER;
      ctx.strokeRect(x0 - w / 2, y0 - w / 2, x1 - x0 + w, y1 - y0 + w);
      ctx.strokeStyle = HOVER_INNER;
      ctx.strokeRect(x0 + w / 2, y0 + w / 2, x1 - x0 - w, y1 - y0 - w);
    }
  }

  setHover(pixel) {
    const same = pixel && this.hover && pixel.x === this.hover.x && pixel.y === this.hover.y;
    if (same || (!pixel && !this.hover)) return;
    this.hover = pixel;
    this.invalidate();
  }

  /** Frames drawn and the p50/p95 of their draw time (ms) over the last frames. */
  stats() {
    const sorted = [...this.durations].sort((a, b) => a - b);
    const at = (q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0);
    return { frames: this.frames, drawP50Ms: at(0.5), drawP95Ms: at(0.95) };
  }
}
