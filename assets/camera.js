// View maths: where the camera looks, how screen points map to board pixels, which tiles and
// which overview level a view needs, and the URL hash that names a view. Pure functions and one
// small class, no DOM: tests/js/camera.test.mjs runs them in Node.
//
// Coordinates: board pixels are integers, pixel (x, y) covers [x, x+1) x [y, y+1). The camera
// holds the board point at the centre of the screen (fractional) and `scale`, CSS pixels per
// board pixel. Screen points are CSS pixels from the top-left corner of the board canvas.

/** Most CSS pixels per board pixel (about what PixelPlanet and Pxls allow). */
export const MAX_SCALE = 40;
/** Below this many CSS pixels per board pixel a tap zooms in instead of painting. */
export const PAINT_MIN_SCALE = 1;
/** Live full-resolution tiles are used down to this scale when the view fits the server's
 *  viewport limit; further out, a 64-pixel tile would cover only a few screen pixels. */
export const LIVE_MIN_SCALE = 0.25;
/** A live view turns to the overview only below `LIVE_MIN_SCALE` times this. */
export const LIVE_HYSTERESIS = 0.8;

export class Camera {
  constructor(board, screen) {
    this.board = { width: board.width, height: board.height };
    this.screen = { width: Math.max(1, screen.width), height: Math.max(1, screen.height) };
    this.x = board.width / 2;
    this.y = board.height / 2;
    this.scale = this.fitScale();
  }

  /** The scale at which the whole board fits the screen with a small border. */
  fitScale() {
    const fit = Math.min(this.screen.width / this.board.width, this.screen.height / this.board.height);
    return fit * 0.95;
  }

  minScale() {
    return Math.min(this.fitScale(), 1);
  }

  resize(width, height) {
    this.screen = { width: Math.max(1, width), height: Math.max(1, height) };
    this.clamp();
  }

  /** Keeps the scale in range and the screen centre over the board. */
  clamp() {
    if (!Number.isFinite(this.scale)) this.scale = this.fitScale();
    this.scale = Math.min(MAX_SCALE, Math.max(this.minScale(), this.scale));
    if (!Number.isFinite(this.x)) this.x = this.board.width / 2;
    if (!Number.isFinite(this.y)) this.y = this.board.height / 2;
    this.x = Math.min(this.board.width, Math.max(0, this.x));
    this.y = Math.min(this.board.height, Math.max(0, this.y));
  }

  set(x, y, scale) {
    this.x = x;
    this.y = y;
    this.scale = scale;
    this.clamp();
  }

  fit() {
    this.set(this.board.width / 2, this.board.height / 2, this.fitScale());
  }

  /** The board point (fractional) under a screen point. */
  toBoard(sx, sy) {
    return {
      x: this.x + (sx - this.screen.width / 2) / this.scale,
      y: this.y + (sy - this.screen.height / 2) / this.scale,
    };
  }

  /** The screen point of a board point. */
  toScreen(bx, by) {
    return {
      x: (bx - this.x) * this.scale + this.screen.width / 2,
      y: (by - this.y) * this.scale + this.screen.height / 2,
    };
  }

  /** The board pixel under a screen point, or null off the board. */
  pixelAt(sx, sy) {
    const p = this.toBoard(sx, sy);
    const x = Math.floor(p.x);
    const y = Math.floor(p.y);
    if (x < 0 || y < 0 || x >= this.board.width || y >= this.board.height) return null;
    return { x, y };
  }

  /** Moves the view by a screen distance (the board follows the pointer). */
  panBy(dx, dy) {
    this.x -= dx / this.scale;
    this.y -= dy / this.scale;
    this.clamp();
  }

  /** Zooms to `scale`, keeping the board point under screen point (sx, sy) where it is. */
  zoomAt(sx, sy, scale) {
    const anchor = this.toBoard(sx, sy);
    this.scale = Math.min(MAX_SCALE, Math.max(this.minScale(), scale));
    this.x = anchor.x - (sx - this.screen.width / 2) / this.scale;
    this.y = anchor.y - (sy - this.screen.height / 2) / this.scale;
    this.clamp();
  }

  /** Board pixels on screen, as an integer rectangle clipped to the board (maybe empty). */
  visibleRect() {
    const a = this.toBoard(0, 0);
    const b = this.toBoard(this.screen.width, this.screen.height);
    return clipRect(
      {
        x: Math.floor(a.x),
        y: Math.floor(a.y),
        width: Math.ceil(b.x) - Math.floor(a.x),
        height: Math.ceil(b.y) - Math.floor(a.y),
      },
      this.board,
    );
  }
}

/** `rect` clipped to a board of `size`; width/height 0 when they do not overlap. */
export function clipRect(rect, size) {
  const x0 = Math.max(0, rect.x);
  const y0 = Math.max(0, rect.y);
  const x1 = Math.min(size.width, rect.x + rect.width);
  const y1 = Math.min(size.height, rect.y + rect.height);
  if (x1 <= x0 || y1 <= y0) return { x: x0, y: y0, width: 0, height: 0 };
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** The grid cells of `cell` pixels that `rect` touches: `{x0, y0, x1, y1}`, ends exclusive. */
export function cellRange(rect, cell) {
  if (rect.width <= 0 || rect.height <= 0) return { x0: 0, y0: 0, x1: 0, y1: 0 };
  return {
    x0: Math.floor(rect.x / cell),
    y0: Math.floor(rect.y / cell),
    x1: Math.floor((rect.x + rect.width - 1) / cell) + 1,
    y1: Math.floor((rect.y + rect.height - 1) / cell) + 1,
  };
}

/** Calls `fn(cx, cy)` for every cell of a range. */
export function forEachCell(range, fn) {
  for (let cy = range.y0; cy < range.y1; cy++) {
    for (let cx = range.x0; cx < range.x1; cx++) fn(cx, cy);
  }
}

/** `rect` grown to whole tiles of `tileSize`, plus `margin` tiles on every side, clipped. */
export function tileAlignedRect(rect, tileSize, margin, size) {
  const r = cellRange(rect, tileSize);
  return clipRect(
    {
      x: (r.x0 - margin) * tileSize,
      y: (r.y0 - margin) * tileSize,
      width: (r.x1 - r.x0 + 2 * margin) * tileSize,
      height: (r.y1 - r.y0 + 2 * margin) * tileSize,
    },
    size,
  );
}

/** True when `inner` lies inside `outer` (an empty inner is inside anything). */
export function containsRect(outer, inner) {
  if (inner.width <= 0 || inner.height <= 0) return true;
  if (!outer || outer.width <= 0 || outer.height <= 0) return false;
  return (
    inner.x >= outer.x &&
    inner.y >= outer.y &&
    inner.x + inner.width <= outer.x + outer.width &&
    inner.y + inner.height <= outer.y + outer.height
  );
}

/**
 * Which data a view shows: 0 for live full-resolution tiles over the websocket, or an overview
 * level n >= 1 (the board at 1/2^n of its resolution, fetched over HTTP).
 *
 * Live tiles are used when the view is close enough (`LIVE_MIN_SCALE`, with some hysteresis
 * when the `current` level is already live) and the tiles it touches
 * fit the server's `maxViewportArea`. Otherwise the level is the coarsest one whose pixels are
 * still no larger than a screen pixel (2^n <= 1/scale), so a zoomed-out view downloads about as
 * many pixels as the screen has, whatever the board's size; never above the top `levels`.
 */
export function chooseLevel(scale, liveArea, maxViewportArea, levels, current = -1) {
  // Hysteresis: a live view stays live a little further out than an overview turns live, so
  // zooming around the threshold does not drop and re-download every live tile each time.
  const liveMin = current === 0 ? LIVE_MIN_SCALE * LIVE_HYSTERESIS : LIVE_MIN_SCALE;
  if (scale >= liveMin && liveArea <= maxViewportArea) return 0;
  if (levels < 1) return 0;
  const level = Math.floor(Math.log2(1 / scale) + 1e-9);
  return Math.min(levels, Math.max(1, level));
}

// ---------------------------------------------------------------------------------------------
// URL hash: `#<board>,<x>,<y>,<zoom>`, e.g. `#main,1024,768,8`; x and y are the board pixel at
// the centre of the screen, zoom the CSS pixels per board pixel.

const BOARD_ID = /^[a-z0-9_-]{1,32}$/;

/** Formats a view for the URL hash (without the '#'). */
export function formatHash(boardId, x, y, scale) {
  const zoom = scale >= 10 ? scale.toFixed(1) : scale >= 1 ? scale.toFixed(2) : scale.toPrecision(3);
  return `${boardId},${Math.floor(x)},${Math.floor(y)},${Number(zoom)}`;
}

/** Parses a hash (with or without '#'): `{board, x, y, scale}`, any of them null when absent
 *  or unreadable, so `#main` alone picks a board and `#,10,10,4` a place on the first one. */
export function parseHash(hash) {
  const parts = String(hash ?? '').replace(/^#/, '').split(',');
  const number = (s) => {
    if (s === undefined || s.trim() === '') return null;
    const n = Number(s);
    return Number.isFinite(n) ? n : null;
  };
  const board = BOARD_ID.test(parts[0] ?? '') ? parts[0] : null;
  const x = number(parts[1]);
  const y = number(parts[2]);
  const zoom = number(parts[3]);
  return {
    board,
    x: x !== null && y !== null ? x : null,
    y: x !== null && y !== null ? y : null,
    scale: zoom !== null && zoom > 0 ? zoom : null,
  };
}
