// Overview tiles over HTTP: `GET /api/boards/{board}/overview/{level}/{tx}/{ty}` (README,
// "Endpoints"). Zoomed-out views show these downsampled tiles instead of subscribing to
// thousands of full-resolution ones; they are re-validated with their ETag every refresh
// period, which is how a zoomed-out view follows the board (at a lower rate than live tiles).

import { Bitmap, OverviewTiles } from './tiles.js';

/** Requests in flight at once: enough to fill a screen quickly, few enough to keep order. */
const CONCURRENCY = 6;

export class OverviewLoader {
  /**
   * `board`: {id, overview: {tile_size, levels, refresh_ms}}; `colours()`: the palette words;
   * `loaded()`: called when a tile arrived or changed.
   */
  constructor(board, colours, loaded) {
    this.board = board;
    this.tileSize = board.overview.tile_size;
    this.levels = board.overview.levels;
    // Re-validating a view's tiles faster than every 2 s would cost the server more requests
    // than a zoomed-out viewer gains from it.
    this.refreshMs = Math.max(2000, board.overview.refresh_ms);
    this.colours = colours;
    this.loaded = loaded;
    // Room for a few screens of tiles at two levels, ~20 MB at most: phones stay comfortable.
    this.cache = new OverviewTiles(64);
    /** Keys wanted now, most important first. */
    this.wanted = [];
    this.inFlight = new Set();
    /** key → when its last fetch failed; retried after a refresh period, not in a loop. */
    this.failedAt = new Map();
    this.stats = { requests: 0, notModified: 0, errors: 0, bytes: 0 };
    this.timer = setInterval(() => this.pump(), Math.min(1000, this.refreshMs / 2));
    this.stopped = false;
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
  }

  url(level, tx, ty) {
    return `/api/boards/${encodeURIComponent(this.board.id)}/overview/${level}/${tx}/${ty}`;
  }

  /** Level `level`'s tile grid. */
  grid(level) {
    const f = 2 ** level;
    const w = Math.ceil(this.board.width / f);
    const h = Math.ceil(this.board.height / f);
    return { width: w, height: h, tilesX: Math.ceil(w / this.tileSize), tilesY: Math.ceil(h / this.tileSize) };
  }

  /** The overview tiles of `level` over board rectangle `rect`: [{level, tx, ty}]. */
  tilesOver(level, rect) {
    const out = [];
    if (rect.width <= 0 || rect.height <= 0) return out;
    const span = this.tileSize * 2 ** level;
    const g = this.grid(level);
    const tx0 = Math.floor(rect.x / span);
    const ty0 = Math.floor(rect.y / span);
    const tx1 = Math.min(g.tilesX, Math.floor((rect.x + rect.width - 1) / span) + 1);
    const ty1 = Math.min(g.tilesY, Math.floor((rect.y + rect.height - 1) / span) + 1);
    for (let ty = ty0; ty < ty1; ty++) for (let tx = tx0; tx < tx1; tx++) out.push({ level, tx, ty });
    return out;
  }

  /** Sets what the view needs (most important first) and starts fetching what is missing. */
  want(list) {
    this.wanted = list;
    const keep = new Set(list.map((t) => OverviewTiles.key(t.level, t.tx, t.ty)));
    this.cache.evict(keep);
    for (const key of this.failedAt.keys()) if (!keep.has(key)) this.failedAt.delete(key);
    this.pump();
  }

  /** Starts fetches for wanted tiles that are missing or due for re-validation. */
  pump() {
    if (this.stopped) return;
    const now = performance.now();
    for (const t of this.wanted) {
      if (this.inFlight.size >= CONCURRENCY) return;
      const key = OverviewTiles.key(t.level, t.tx, t.ty);
      if (this.inFlight.has(key)) continue;
      const tile = this.cache.get(t.level, t.tx, t.ty);
      if (tile && now - tile.checkedAt < this.refreshMs) continue;
      if (!tile && this.failedAt.get(key) > now - this.refreshMs) continue;
      this.fetch(t, key, tile);
    }
  }

  /** Every cached tile is re-validated on the next pump (after a reconnect, say). */
  expire() {
    for (const tile of this.cache.tiles.values()) tile.checkedAt = -Infinity;
    this.pump();
  }

  async fetch({ level, tx, ty }, key, cached) {
    this.inFlight.add(key);
    this.stats.requests += 1;
    try {
      const headers = cached?.etag ? { 'If-None-Match': cached.etag } : {};
      // The ETag is handled here, not by the HTTP cache, so a 304 is visible and cheap.
      const response = await fetch(this.url(level, tx, ty), { cache: 'no-store', headers });
      if (response.status === 304 && cached) {
        this.stats.notModified += 1;
        cached.checkedAt = performance.now();
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const width = Number(response.headers.get('x-tile-width'));
      const height = Number(response.headers.get('x-tile-height'));
      const pixels = new Uint8Array(await response.arrayBuffer());
      if (!(width > 0 && height > 0 && pixels.length === width * height)) {
        throw new Error(`a ${width}x${height} tile with ${pixels.length} bytes`);
      }
      this.stats.bytes += pixels.length;
      const tile = new Bitmap(tx * this.tileSize, ty * this.tileSize, width, height, pixels, this.colours());
      // Overview tiles are replaced, never patched: once on their canvas, the colour copy can go.
      tile.drawable();
      tile.image = null;
      tile.words = null;
      tile.etag = response.headers.get('etag');
      tile.checkedAt = performance.now();
      tile.usedAt = performance.now();
      this.cache.put(level, tx, ty, tile);
      this.loaded();
    } catch (e) {
      this.stats.errors += 1;
      this.failedAt.set(key, performance.now());
      console.warn(`overview tile ${key}: ${e.message}`);
    } finally {
      this.inFlight.delete(key);
      this.pump();
    }
  }
}
