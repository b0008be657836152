// Tessera's browser client: wires the connection, the tile caches, the camera, input, renderer
// and controls together, and owns the rules that tie them:
//
// * which data the view shows (camera.js `chooseLevel`): live full-resolution tiles over the
//   websocket when zoomed in, downsampled overview tiles over HTTP when zoomed out;
// * which tiles are subscribed: those in view plus a margin of one tile, re-sent (debounced)
//   only when the view leaves the subscribed rectangle or shrinks well inside it; tiles out of
//   it are dropped from memory;
// * painting: optimistic, rolled back with the server's reason when rejected; the cooldown
//   timer follows the server's answers;
// * the URL hash `#board,x,y,zoom` names the view; reload or a shared link restores it.
//
// Tests and the console read `window.tessera` (end of file).

import {
  Camera,
  PAINT_MIN_SCALE,
  cellRange,
  chooseLevel,
  containsRect,
  forEachCell,
  formatHash,
  parseHash,
  tileAlignedRect,
} from './camera.js';
import { Connection } from './connection.js';
import { Input, ZOOM_STEP } from './input.js';
import { OverviewLoader } from './overview.js';
import { Renderer } from './renderer.js';
import { LiveTiles, paletteWords } from './tiles.js';
import { Ui, hex } from './ui.js';

/** Trailing debounce of the viewport message while the view moves... */
const VIEWPORT_DEBOUNCE_MS = 100;
/** ...but during a long pan, one at least this often (at most ~4/s: the server allows 1000). */
const VIEWPORT_MAX_WAIT_MS = 250;
const HASH_DEBOUNCE_MS = 250;
/** Tiles subscribed around the view on each side, so a short pan needs no new subscription. */
const LIVE_MARGIN_TILES = 1;
/** A subscription this many times larger than what the view needs is narrowed (zooming in). */
const SHRINK_FACTOR = 3;
/** Scale a tap on a zoomed-out view zooms to, so the next tap can hit one pixel. */
const TAP_ZOOM_SCALE = 8;
/** An accepted paint is drawn from our own copy until its TileUpdate arrives, or this long. */
const ACCEPTED_OVERLAY_MS = 2000;
/** The server honours one resync request (identical SetViewport) a second (protocol 6.2). */
const RESYNC_INTERVAL_MS = 1100;
/** Tiles still missing this long after a SetViewport are asked for again with a resync. */
const AWAIT_TIMEOUT_MS = 3000;
/** After the server refused a SetViewport, wait this long before subscribing afresh. */
const REFUSED_RETRY_MS = 1000;
const BOARD_JSON_TIMEOUT_MS = 5000;
/** Overview tile edge when the server's board JSON cannot be read (its documented value). */
const DEFAULT_OVERVIEW_TILE = 256;

/** Errors that mean our last SetViewport was not applied (protocol 6.2, 7). */
const VIEWPORT_ERRORS = new Set(['UnknownBoard', 'ViewportOffBoard', 'ViewportTooLarge', 'RateLimited']);

/** Close codes (protocol 7) in words; others show their code and reason. */
const CLOSE_TEXT = {
  1001: 'the server is restarting',
  1006: 'no answer from the server',
  4001: 'this page could not keep up with the board',
  4002: 'too many messages from this page',
};

const REJECT_TEXT = {
  Cooldown: 'cooldown',
  UnknownBoard: 'unknown board',
  OutOfBounds: 'outside the board',
  InvalidColor: 'not a palette colour',
  RateLimited: 'too many messages',
  Unavailable: 'server busy, try again',
};

const canvas = document.getElementById('board');
const ui = new Ui({
  select: (i) => select(i),
  zoomIn: () => input.zoomBy(ZOOM_STEP),
  zoomOut: () => input.zoomBy(1 / ZOOM_STEP),
  fit: () => {
    camera?.fit();
    viewChanged();
  },
});

/** 'connecting' | 'open' (Welcome received and the board set up) | 'closed' | 'fatal'. */
let state = 'connecting';
let limits = null;
/** The board shown: Welcome's BoardInfo plus `index` and `overview` from the board JSON. */
let board = null;
let colours = new Uint32Array(0);
let camera = null;
/** 0: live tiles; n >= 1: overview level n. */
let level = 0;
/** The rectangle of the last SetViewport (null: none this connection; width 0: unsubscribed). */
let subscribed = null;
/** Keys "tx,ty" of the tiles in `subscribed`. */
let subscribedKeys = new Set();
const live = new LiveTiles();
/** The empty viewport: unsubscribes from every tile (protocol 6.2). */
const NO_VIEWPORT = Object.freeze({ x: 0, y: 0, width: 0, height: 0 });
let overview = null;
let resyncWanted = false;
let lastResyncAt = -Infinity;
let resyncTimer = 0;
let lastViewportAt = 0;
let refusedTimer = 0;
/** Bumped on every connection, so an async setup for an old one is dropped. */
let generation = 0;

/** Optimistic paints: "x,y" → {seq, color, accepted, sawUpdate}; drawn over the tile copy. */
const overlay = new Map();
/** Paints waiting for their PaintResult: seq → {x, y, color}. */
const pending = new Map();
let nextSeq = 1;
let selected = 0;
let lastResult = null;

let viewportTimer = 0;
let viewportDueBy = 0;
let hashTimer = 0;
/** The hash we wrote last, to tell our own updates from the user's edits. */
/** performance.now() when every tile of the view was first on screen. */
let firstFullView = null;
/** Main-thread time spent applying server frames (decoding is counted by the connection). */
const handled = { frames: 0, ms: 0 };

// ---------------------------------------------------------------------------------------------
// Connection

const connection = new Connection({
  state: (next, detail) => {
    if (next === 'connecting') {
      state = 'connecting';
      ui.connection('connecting', 'connecting…');
    } else if (next === 'open') {
      // 'open' once the board is set up (onWelcome).
      ui.connection('connecting', 'loading…');
    } else if (next === 'closed') {
      disconnected(detail);
    } else if (next === 'fatal') {
      state = 'fatal';
      ui.connection('closed', 'disconnected');
      ui.status(`Cannot use this server: ${detail.message}.`, 'error');
    }
  },
  frame: (messages) => {
    const start = performance.now();
    for (const msg of messages) handle(msg);
    handled.frames += 1;
    handled.ms += performance.now() - start;
    if (resyncWanted) {
      resyncWanted = false;
      requestResync();
    }
    redraw();
  },
});

/** Protocol 6.3: re-sending the current SetViewport unchanged asks for a fresh TileState of
 *  every tile in view. The server ignores a second one within a second, so they are spaced. */
function requestResync() {
  if (resyncTimer) return;
  const wait = Math.max(0, lastResyncAt + RESYNC_INTERVAL_MS - performance.now());
  resyncTimer = setTimeout(() => {
    resyncTimer = 0;
    if (state !== 'open' || !subscribed || subscribed.width === 0) return;
    lastResyncAt = performance.now();
    sendViewport(subscribed);
  }, wait);
}

// Tiles that should have arrived but did not (a resync the server dropped, say) are asked for
// again, so a view can never stay incomplete.
setInterval(() => {
  if (state === 'open' && live.awaiting.size > 0 && performance.now() - lastViewportAt > AWAIT_TIMEOUT_MS) {
    requestResync();
  }
}, 1000);

/** A refused SetViewport left the server on the previous viewport, which we no longer track:
 *  start from nothing (unsubscribe everything, then subscribe what the view needs). */
function viewportRefused() {
  if (refusedTimer) return;
  refusedTimer = setTimeout(() => {
    refusedTimer = 0;
    if (state !== 'open') return;
    sendViewport(NO_VIEWPORT);
    syncViewport(true);
  }, REFUSED_RETRY_MS);
}

function disconnected({ code, reason, retryInMs }) {
  state = 'closed';
  generation += 1;
  clearTimeout(resyncTimer);
  resyncTimer = 0;
  clearTimeout(refusedTimer);
  refusedTimer = 0;
  // Versions are only comparable within one connection (6.3): live tiles are fetched again.
  // Meanwhile the view shows the overview, not stale live tiles that might hide paints made
  // while we were away.
  live.clear();
  subscribed = null;
  subscribedKeys = new Set();
  pending.clear();
  const stale = [...overlay.keys()];
  overlay.clear();
  for (const key of stale) redrawPixel(key);
  ui.connection('closed', 'offline');
  const why = CLOSE_TEXT[code] ?? (reason ? `${code}: ${reason}` : `code ${code}`);
  ui.status(`Connection lost (${why}); reconnecting in ${(retryInMs / 1000).toFixed(1)} s.`, 'error');
  redraw();
}

function handle(msg) {
  switch (msg.type) {
    case 'Welcome':
      return onWelcome(msg);
    case 'TileState':
      return onTileState(msg);
    case 'TileUpdate':
      return onTileUpdate(msg);
    case 'PaintResult':
      return onPaintResult(msg);
    case 'Error':
      ui.status(`The server refused a message: ${msg.code} (${msg.message}).`, 'error');
      if (VIEWPORT_ERRORS.has(msg.code)) viewportRefused();
      return undefined;
  }
}

/** The server's description of a board, with its overview pyramid; a computed stand-in when
 *  the JSON cannot be read (the overview tiles will then fail and be retried). */
async function boardJson(info) {
  try {
    const response = await fetch(`/api/boards/${encodeURIComponent(info.id)}`, {
      cache: 'no-store',
      signal: AbortSignal.timeout(BOARD_JSON_TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const json = await response.json();
    if (json.overview) return json;
    throw new Error('no overview in the board JSON');
  } catch (e) {
    console.warn(`board ${info.id}: ${e.message}; assuming the documented overview pyramid`);
    let levels = 1;
    while (Math.max(info.width, info.height) > DEFAULT_OVERVIEW_TILE * 2 ** levels) levels++;
    return { overview: { tile_size: DEFAULT_OVERVIEW_TILE, levels, refresh_ms: 2000 } };
  }
}

async function onWelcome(msg) {
  const mine = generation;
  limits = msg.limits;
  const wanted = parseHash(location.hash).board ?? board?.id;
  let index = msg.boards.findIndex((b) => b.id === wanted);
  if (index < 0) index = 0;
  const info = msg.boards[index];
  if (!info) {
    state = 'fatal';
    ui.status('The server has no boards.', 'error');
    return;
  }
  const json = await boardJson(info);
  if (mine !== generation) return; // this connection is gone
  setupBoard({ ...info, index, overview: json.overview });
  state = 'open';
  ui.connection('open', 'live');
  if (ui.cooldownLeft() === 0) ui.status(readyText());
  syncViewport(true);
}

function readyText() {
  return 'Pick a colour and click or tap the board to paint.';
}

function sameBoard(a, b) {
  return a && b && a.id === b.id && a.width === b.width && a.height === b.height;
}

function setupBoard(next) {
  const previous = board;
  const paletteChanged = !previous || JSON.stringify(previous.palette) !== JSON.stringify(next.palette);
  board = next;
  colours = paletteWords(next.palette);
  ui.board(next);
  if (paletteChanged) {
    selected = next.background === 0 ? 1 % next.palette.length : 0;
    ui.buildPalette(next.palette, selected);
  }
  if (!sameBoard(previous, next) || !overview) {
    overview?.stop();
    overview = new OverviewLoader(next, () => colours, redraw);
    const rect = canvas.getBoundingClientRect();
    camera = new Camera(next, { width: rect.width, height: rect.height });
    const hash = parseHash(location.hash);
    if (hash.board === next.id || hash.board === null) {
      // The hash names the pixel at the centre: show the middle of it.
      if (hash.x !== null) camera.set(hash.x + 0.5, hash.y + 0.5, hash.scale ?? Math.max(camera.scale, 4));
      else if (hash.scale !== null) camera.set(camera.x, camera.y, hash.scale);
    }
    renderer.setCamera(camera);
  } else {
    // Same board after a reconnect: the overview tiles may have changed while we were away
    // (the server may even have restarted), so re-validate them now.
    if (paletteChanged) overview.cache.clear();
    overview.expire();
  }
  viewChanged();
}

// ---------------------------------------------------------------------------------------------
// What the view shows, and the subscription that feeds it

/** The live tiles the view touches, as a tile-aligned rectangle. */
function neededLiveRect() {
  return tileAlignedRect(camera.visibleRect(), board.tileSize, 0, board);
}

function currentLevel() {
  const needed = neededLiveRect();
  const max = Number(limits?.maxViewportArea ?? 0);
  return chooseLevel(camera.scale, needed.width * needed.height, max, board.overview.levels, level);
}

/** The camera moved: redraw now, re-subscribe soon, update the hash a little later. */
function viewChanged() {
  if (!camera) return;
  level = currentLevel();
  ui.zoom(camera.scale, level);
  // The pixel under a resting mouse changes when the view moves under it (keys, buttons).
  const mouse = input.lastMouse;
  if (mouse) hoverAt(mouse.x, mouse.y);
  wantOverview();
  redraw();
  const now = performance.now();
  if (!viewportTimer) viewportDueBy = now + VIEWPORT_MAX_WAIT_MS;
  clearTimeout(viewportTimer);
  viewportTimer = setTimeout(() => {
    viewportTimer = 0;
    syncViewport(false);
  }, Math.max(0, Math.min(VIEWPORT_DEBOUNCE_MS, viewportDueBy - now)));
  clearTimeout(hashTimer);
  hashTimer = setTimeout(writeHash, HASH_DEBOUNCE_MS);
}

/** Sends a SetViewport when the view needs other live tiles than those subscribed. */
function syncViewport(force) {
  if (!camera || state !== 'open') return;
  if (level > 0) {
    // Zoomed out: the overview shows the board; live tiles would be thousands of subscriptions.
    if (subscribed === null || subscribed.width > 0) {
      sendViewport(NO_VIEWPORT);
    }
    return;
  }
  const needed = neededLiveRect();
  let desired = tileAlignedRect(camera.visibleRect(), board.tileSize, LIVE_MARGIN_TILES, board);
  if (desired.width * desired.height > Number(limits.maxViewportArea)) desired = needed;
  const area = (r) => r.width * r.height;
  if (
    !force &&
    subscribed &&
    containsRect(subscribed, needed) &&
    area(subscribed) <= SHRINK_FACTOR * area(desired)
  ) {
    return;
  }
  sendViewport(desired);
}

function sendViewport(rect) {
  const resync = subscribed && rect.width > 0 && rect.x === subscribed.x && rect.y === subscribed.y &&
    rect.width === subscribed.width && rect.height === subscribed.height;
  subscribed = { ...rect };
  const keys = new Set();
  if (rect.width > 0) {
    forEachCell(cellRange(rect, board.tileSize), (tx, ty) => keys.add(`${tx},${ty}`));
  }
  subscribedKeys = keys;
  // Tiles leaving the subscription are forgotten; the server stops their updates (6.2).
  live.retain((key) => keys.has(key));
  for (const key of keys) {
    // A resync re-sends every tile; otherwise only the tiles new to the viewport come.
    if (resync || !live.tiles.has(key)) live.awaiting.add(key);
  }
  lastViewportAt = performance.now();
  connection.send({ type: 'SetViewport', board: board.index, ...rect });
}

/** Asks the overview loader for what the view needs: always the top level (a backdrop for
 *  tiles still loading), plus the current level's tiles in view when zoomed out. */
function wantOverview() {
  if (!overview) return;
  const visible = camera.visibleRect();
  const list = overview.tilesOver(board.overview.levels, visible);
  if (level > 0 && level < board.overview.levels) {
    // Nearest the centre first.
    const tiles = overview.tilesOver(level, visible);
    const span = board.overview.tile_size * 2 ** level;
    const d = (t) => Math.hypot((t.tx + 0.5) * span - camera.x, (t.ty + 0.5) * span - camera.y);
    tiles.sort((a, b) => d(a) - d(b));
    list.push(...tiles);
  }
  overview.want(list);
}

function writeHash() {
  if (!camera || !board) return;
  const hash = `#${formatHash(board.id, camera.x, camera.y, camera.scale)}`;
  if (hash === location.hash) return;
  history.replaceState(null, '', hash);
}

window.addEventListener('hashchange', () => {
  // Only the user changes the hash this way: `history.replaceState` fires no `hashchange`.
  if (!camera || !board) return;
  const hash = parseHash(location.hash);
  if (hash.board !== null && hash.board !== board.id) {
    // Another board: reconnecting picks it from the hash.
    location.reload();
    return;
  }
  camera.set(hash.x === null ? camera.x : hash.x + 0.5, hash.y === null ? camera.y : hash.y + 0.5, hash.scale ?? camera.scale);
  viewChanged();
});

// ---------------------------------------------------------------------------------------------
// Server messages

function onTileState(msg) {
  if (!board || msg.board !== board.index || !subscribedKeys.has(`${msg.tx},${msg.ty}`)) return;
  const tile = live.setState(msg, board.tileSize, colours);
  // Our paints still in flight stay visible over the server's copy.
  for (const [pixelKey, paint] of overlay) {
    const [x, y] = pixelKey.split(',').map(Number);
    const dx = x - tile.x;
    const dy = y - tile.y;
    if (dx >= 0 && dy >= 0 && dx < tile.width && dy < tile.height) tile.show(dx, dy, colours[paint.color]);
  }
}

function onTileUpdate(msg) {
  if (!board || msg.board !== board.index || !subscribedKeys.has(`${msg.tx},${msg.ty}`)) return;
  const outcome = live.applyUpdate(msg, colours, (x, y) => {
    const pixelKey = `${x},${y}`;
    const paint = overlay.get(pixelKey);
    if (!paint) return false;
    if (paint.accepted) {
      // Our accepted paint is now in the server's copy (or overwritten after it).
      overlay.delete(pixelKey);
      return false;
    }
    paint.sawUpdate = true;
    return true;
  });
  if (outcome === 'gap') resyncWanted = true;
}

function onPaintResult(msg) {
  const paint = pending.get(msg.seq);
  if (!paint) return;
  pending.delete(msg.seq);
  const { x, y, color } = paint;
  lastResult = { seq: msg.seq, x, y, color, outcome: msg.outcome };
  const pixelKey = `${x},${y}`;
  const mine = overlay.get(pixelKey);
  const current = mine && mine.seq === msg.seq ? mine : null;
  if (msg.outcome.type === 'Accepted') {
    if (current?.sawUpdate) {
      dropOverlay(pixelKey);
    } else if (current) {
      current.accepted = true;
      setTimeout(() => {
        if (overlay.get(pixelKey) === current) {
          dropOverlay(pixelKey);
          redraw();
        }
      }, ACCEPTED_OVERLAY_MS);
    }
    ui.status(`Painted (${x}, ${y}) ${hex(board.palette[color])}.`);
    // The board's cooldown from the server's Welcome starts with the server's acceptance.
    if (board.cooldownMs > 0) ui.cooldown(board.cooldownMs);
  } else {
    if (current) dropOverlay(pixelKey);
    const { reason, retryAfterMs } = msg.outcome;
    ui.status(`Paint at (${x}, ${y}) rejected: ${REJECT_TEXT[reason] ?? reason}.`, 'error');
    if (retryAfterMs > 0) ui.cooldown(retryAfterMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Drawing

function liveTileAt(x, y) {
  const ts = board.tileSize;
  return live.get(Math.floor(x / ts), Math.floor(y / ts));
}

/** Shows pixel "x,y" from the tile copy again (after its optimistic paint went away). */
function redrawPixel(pixelKey) {
  const [x, y] = pixelKey.split(',').map(Number);
  const tile = board && liveTileAt(x, y);
  if (!tile) return;
  const dx = x - tile.x;
  const dy = y - tile.y;
  tile.show(dx, dy, colours[tile.pixels[dy * tile.width + dx]]);
}

function dropOverlay(pixelKey) {
  overlay.delete(pixelKey);
  redrawPixel(pixelKey);
}

function redraw() {
  renderer.invalidate();
}

/** True when every tile the view needs (live or overview) is on screen. */
function viewComplete() {
  if (!camera || !board) return false;
  if (level === 0) {
    if (state !== 'open') return false;
    let complete = true;
    forEachCell(cellRange(neededLiveRect(), board.tileSize), (tx, ty) => {
      const tile = live.get(tx, ty);
      if (!tile || tile.stale) complete = false;
    });
    return complete;
  }
  return overview.tilesOver(level, camera.visibleRect()).every((t) => overview.cache.get(t.level, t.tx, t.ty));
}

function drawScene(layer) {
  if (!board) return;
  const visible = camera.visibleRect();
  const now = performance.now();
  // Coarse to fine: the top level under everything, then the current overview level, then
  // the live tiles. Whatever is missing shows the coarser layer below it.
  const levels = [board.overview.levels];
  if (level > 0 && level < board.overview.levels) levels.push(level);
  for (const l of levels) {
    for (const t of overview.tilesOver(l, visible)) {
      const tile = overview.cache.get(l, t.tx, t.ty);
      if (!tile) continue;
      tile.usedAt = now;
      layer.bitmap(tile, 2 ** l);
    }
  }
  if (level === 0) {
    forEachCell(cellRange(visible, board.tileSize), (tx, ty) => {
      const tile = live.get(tx, ty);
      if (tile) layer.bitmap(tile, 1);
    });
  } else {
    // Live tiles linger for a moment after zooming out; the view may span far more cells
    // than there are tiles held.
    for (const tile of live.tiles.values()) layer.bitmap(tile, 1);
  }
  if (firstFullView === null && viewComplete()) firstFullView = now;
}

const renderer = new Renderer(canvas, drawScene);
new ResizeObserver(() => {
  renderer.resize();
  viewChanged();
}).observe(canvas);

// ---------------------------------------------------------------------------------------------
// Painting and input

function select(index) {
  selected = index;
  ui.select(index);
}

function paint(x, y) {
  if (state !== 'open') {
    ui.status('Not connected: wait for the connection to come back.', 'error');
    return;
  }
  if (ui.cooldownLeft() > 0) {
    ui.status('Wait for the timer before painting again.', 'wait');
    return;
  }
  const tile = liveTileAt(x, y);
  if (!tile) {
    ui.status('That part of the board is still loading.', 'wait');
    return;
  }
  const seq = nextSeq;
  nextSeq = nextSeq >= 0xffffffff ? 1 : nextSeq + 1;
  const color = selected;
  overlay.set(`${x},${y}`, { seq, color, accepted: false, sawUpdate: false });
  pending.set(seq, { x, y, color });
  tile.show(x - tile.x, y - tile.y, colours[color]);
  redraw();
  connection.send({ type: 'Paint', seq, board: board.index, x, y, color });
  ui.status(`Painting (${x}, ${y})…`);
}

function tap(sx, sy) {
  if (!camera) return;
  const pixel = camera.pixelAt(sx, sy);
  if (!pixel) return;
  if (level > 0 || camera.scale < PAINT_MIN_SCALE) {
    // Too far out to aim at one pixel: bring the tapped place close first.
    camera.zoomAt(sx, sy, TAP_ZOOM_SCALE);
    viewChanged();
    ui.status('Zoomed in: tap a pixel to paint it.');
    return;
  }
  paint(pixel.x, pixel.y);
}

const input = new Input(canvas, {
  camera: () => camera,
  changed: () => viewChanged(),
  tap,
  hover: (sx, sy) => hoverAt(sx, sy),
});

function hoverAt(sx, sy) {
  const pixel = camera && sx !== null && sx !== undefined ? camera.pixelAt(sx, sy) : null;
  ui.pointer(pixel);
  renderer.setHover(pixel);
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') connection.retryNow();
});

// ---------------------------------------------------------------------------------------------
// For tests and the console.

window.tessera = Object.freeze({
  /** 'connecting' | 'open' | 'closed' | 'fatal'. */
  get state() {
    return state;
  },
  get board() {
    return board;
  },
  /** 0 when the view shows live tiles, else the overview level shown. */
  get level() {
    return level;
  },
  get camera() {
    return camera && { x: camera.x, y: camera.y, scale: camera.scale, screen: { ...camera.screen } };
  },
  /** The rectangle of the last SetViewport (width 0: unsubscribed), or null. */
  get viewport() {
    return subscribed && { ...subscribed };
  },
  /** Keys "tx,ty" of the subscribed tiles. */
  get subscribedTiles() {
    return [...subscribedKeys];
  },
  /** Keys "tx,ty" of the live tiles held in memory. */
  get liveTiles() {
    return [...live.tiles.keys()];
  },
  /** Subscribed tiles whose state we hold, and how many are subscribed. */
  get tilesLoaded() {
    let n = 0;
    for (const key of subscribedKeys) if (live.tiles.has(key)) n++;
    return n;
  },
  get tilesInView() {
    return subscribedKeys.size;
  },
  /** Keys "level/tx/ty" of the overview tiles held, and the loader's request counters. */
  get overviewTiles() {
    return overview ? [...overview.cache.tiles.keys()] : [];
  },
  get overviewStats() {
    return overview ? { ...overview.stats } : null;
  },
  /** Every tile the current view needs is on screen. */
  get complete() {
    return viewComplete();
  },
  /** ms from navigation start to the first complete view, or null. */
  get firstFullViewMs() {
    return firstFullView;
  },
  get socketBytes() {
    return connection.bytesReceived;
  },
  get renderStats() {
    return renderer.stats();
  },
  resetRenderStats() {
    renderer.durations = [];
  },
  /** Server frames applied so far and the main-thread milliseconds it took, decoding included. */
  get handledFrames() {
    return { frames: handled.frames, ms: handled.ms + connection.decodeMs };
  },
  /** The last PaintResult: {seq, x, y, color, outcome: {type, reason?, retryAfterMs?}}. */
  get lastResult() {
    return lastResult;
  },
  get selected() {
    return selected;
  },
  get cooldownLeftMs() {
    return ui.cooldownLeft();
  },
  /** CSS pixels per board pixel. */
  get zoom() {
    return camera ? camera.scale : 0;
  },
  /** The screen point (CSS pixels, relative to the board canvas) of the centre of pixel (x, y). */
  screenOf(x, y) {
    return camera && camera.toScreen(x + 0.5, y + 0.5);
  },
  /** Moves the view (board pixel at the centre, CSS pixels per board pixel). */
  look(x, y, scale) {
    if (!camera) return;
    camera.set(x, y, scale ?? camera.scale);
    viewChanged();
  },
  /** The palette index of board pixel (x, y) in our copy of its live tile (what the server
   *  sent, without optimistic paints), or null when that tile is not held. */
  pixel(x, y) {
    const tile = board && liveTileAt(x, y);
    if (!tile || tile.stale) return null;
    const dx = x - tile.x;
    const dy = y - tile.y;
    if (dx < 0 || dy < 0 || dx >= tile.width || dy >= tile.height) return null;
    return tile.pixels[dy * tile.width + dx];
  },
});

connection.connect();
