// Tile caches: the live full-resolution tiles of the viewport (filled by the websocket) and the
// overview tiles of zoomed-out views (filled over HTTP). Each tile keeps its palette indices,
// their colours as ImageData, and a small canvas the renderer draws from; changes mark a dirty
// rectangle so only the changed pixels are uploaded to that canvas.

/** Palette as 32-bit RGBA words in the platform's byte order, ready for ImageData. */
export function paletteWords(palette) {
  const words = new Uint32Array(palette.length);
  const bytes = new Uint8Array(words.buffer);
  palette.forEach(([r, g, b], i) => bytes.set([r, g, b, 255], i * 4));
  return words;
}

function makeCanvas(width, height) {
  if (typeof OffscreenCanvas === 'function') return new OffscreenCanvas(width, height);
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

/** A rectangle of board (or overview-level) pixels with a bitmap for drawing. */
export class Bitmap {
  /**
   * `x, y`: position of its top-left pixel in its own level's pixels; `pixels`: palette indices.
   */
  constructor(x, y, width, height, pixels, colours) {
    this.x = x;
    this.y = y;
    this.width = width;
    this.height = height;
    this.pixels = pixels;
    this.image = new ImageData(width, height);
    this.words = new Uint32Array(this.image.data.buffer);
    for (let i = 0; i < pixels.length; i++) this.words[i] = colours[pixels[i]];
    this.canvas = null;
    this.markAll();
  }

  markAll() {
    this.dirty = { x0: 0, y0: 0, x1: this.width, y1: this.height };
  }

  /** Shows colour word `word` at (dx, dy) without touching the indices (optimistic paints). */
  show(dx, dy, word) {
    this.words[dy * this.width + dx] = word;
    const d = this.dirty;
    if (!d) {
      this.dirty = { x0: dx, y0: dy, x1: dx + 1, y1: dy + 1 };
    } else {
      d.x0 = Math.min(d.x0, dx);
      d.y0 = Math.min(d.y0, dy);
      d.x1 = Math.max(d.x1, dx + 1);
      d.y1 = Math.max(d.y1, dy + 1);
    }
  }

  /** The canvas to draw, after uploading the changed pixels (only their bounding box). */
  drawable() {
    if (!this.canvas) this.canvas = makeCanvas(this.width, this.height);
    const d = this.dirty;
    if (d) {
      this.canvas.getContext('2d').putImageData(this.image, 0, 0, d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0);
      this.dirty = null;
    }
    return this.canvas;
  }
}

/**
 * The live tiles of one connection. Versions are only comparable within one connection, so
 * `clear()` on every disconnect.
 */
export class LiveTiles {
  constructor() {
    /** "tx,ty" → Bitmap with `tx, ty, version`. */
    this.tiles = new Map();
    /** Tiles whose TileState is due after our last SetViewport; a gap in them needs no resync. */
    this.awaiting = new Set();
  }

  clear() {
    this.tiles.clear();
    this.awaiting.clear();
  }

  get(tx, ty) {
    return this.tiles.get(`${tx},${ty}`);
  }

  /** Forgets every tile for which `keep(key)` is false. */
  retain(keep) {
    for (const key of this.tiles.keys()) if (!keep(key)) this.tiles.delete(key);
    for (const key of this.awaiting) if (!keep(key)) this.awaiting.delete(key);
  }

  /** A full TileState replaces our copy. */
  setState(msg, tileSize, colours) {
    const key = `${msg.tx},${msg.ty}`;
    const tile = new Bitmap(msg.tx * tileSize, msg.ty * tileSize, msg.width, msg.height, msg.pixels, colours);
    tile.tx = msg.tx;
    tile.ty = msg.ty;
    tile.version = msg.version;
    this.tiles.set(key, tile);
    this.awaiting.delete(key);
    return tile;
  }

  /**
   * Applies a TileUpdate. Returns 'applied' (with the tile's changed pixels shown unless
   * `skip(x, y)` holds them for an optimistic paint), 'stale' (already in our copy), or 'gap'
   * (our copy is missing batches, or we hold none and none is on the way: resynchronise).
   */
  applyUpdate(msg, colours, skip) {
    const key = `${msg.tx},${msg.ty}`;
    const tile = this.tiles.get(key);
    if (!tile) return this.awaiting.has(key) ? 'stale' : 'gap';
    // A copy known to have missed a batch takes nothing more until its fresh state replaces it
    // (it stays on screen meanwhile).
    if (tile.stale) return 'stale';
    // Versions are Numbers below 2^53 (protocol.js), so plain comparisons hold.
    if (msg.version <= tile.version) return 'stale';
    if (msg.baseVersion !== tile.version) {
      tile.stale = true;
      if (this.awaiting.has(key)) return 'stale';
      this.awaiting.add(key);
      return 'gap';
    }
    for (const { dx, dy, color } of msg.changes) {
      if (dx >= tile.width || dy >= tile.height || color >= colours.length) continue;
      tile.pixels[dy * tile.width + dx] = color;
      if (!skip(tile.x + dx, tile.y + dy, color)) tile.show(dx, dy, colours[color]);
    }
    tile.version = msg.version;
    return 'applied';
  }
}

/** Downsampled tiles of the overview levels, with their ETags, capped in number (each costs
 *  its indices plus a canvas: about 320 KB for a full 256 x 256 tile). */
export class OverviewTiles {
  constructor(limit) {
    this.limit = limit;
    /** "level/tx/ty" → Bitmap with `level, tx, ty, etag, checkedAt, usedAt`. */
    this.tiles = new Map();
  }

  static key(level, tx, ty) {
    return `${level}/${tx}/${ty}`;
  }

  get(level, tx, ty) {
    return this.tiles.get(OverviewTiles.key(level, tx, ty));
  }

  put(level, tx, ty, tile) {
    this.tiles.set(OverviewTiles.key(level, tx, ty), tile);
  }

  clear() {
    this.tiles.clear();
  }

  /** Drops the least recently drawn tiles beyond the cap, never one in `keep`. */
  evict(keep) {
    if (this.tiles.size <= this.limit) return;
    const old = [...this.tiles.entries()]
      .filter(([key]) => !keep.has(key))
      .sort((a, b) => a[1].usedAt - b[1].usedAt);
    for (const [key] of old.slice(0, this.tiles.size - this.limit)) this.tiles.delete(key);
  }
}
