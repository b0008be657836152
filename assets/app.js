// Tessera's minimal browser client: shows the first board of the server and paints on it.
//
// One websocket (docs/protocol.md), one viewport (the whole board when it fits in
// `limits.maxViewportArea`, else its top-left corner), a copy of every tile in view, one <canvas>
// with one canvas pixel per board pixel, scaled by CSS with integer zoom. Only changed tiles are
// redrawn: each tile keeps an ImageData that updates write into, and the tiles touched by a frame
// are put on the canvas once that frame is processed.
//
// Tests read `window.tessera` (see the end of the file).

import { PROTOCOL_VERSION, decodeServerFrame, encodeClient } from './protocol.js';

const TOKEN_KEY = 'tessera.token';
/** The page shows the first board of the Welcome. */
const BOARD = 0;
const MAX_ZOOM = 40;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
/** An accepted paint is drawn from our own copy until its TileUpdate arrives, or this long. */
const ACCEPTED_OVERLAY_MS = 2000;
/** Colour of the canvas where no tile has arrived yet. */
const UNLOADED = '#c8ccd0';

const REJECT_TEXT = {
  Cooldown: 'cooldown',
  UnknownBoard: 'unknown board',
  OutOfBounds: 'outside the board',
  InvalidColor: 'not a palette colour',
  RateLimited: 'too many messages',
  Unavailable: 'server unavailable',
};

const $ = (id) => document.getElementById(id);
const canvas = $('board');
const ctx = canvas.getContext('2d');
const stage = $('stage');
const paletteBar = $('palette');
const statusLine = $('status');
const connectionBadge = $('connection');
const zoomLevel = $('zoom-level');
const zoomIn = $('zoom-in');
const zoomOut = $('zoom-out');

let socket = null;
/** 'connecting' | 'open' (Welcome received) | 'closed'. */
let state = 'connecting';
let attempt = 0;
let reconnectTimer = 0;
/** Set when reconnecting cannot help (an unknown protocol version). */
let fatal = false;

let limits = null;
let board = null;
/** Palette index → RGBA pixel as one 32-bit word in the platform's byte order (for ImageData). */
let colours = new Uint32Array(0);
/** The clipped rectangle we watch: `{x, y, width, height}` in board pixels. */
let viewport = null;
/** Tiles in view, as "tx,ty" keys. */
let viewKeys = new Set();

/** "tx,ty" → {tx, ty, x, y, width, height, version, pixels, image, words}. */
const tiles = new Map();
/** Tiles whose TileState is due after our last SetViewport; gaps in them need no new resync. */
const awaiting = new Set();
/** Tiles whose ImageData changed since the last flush. */
const dirty = new Set();
let resyncWanted = false;

/** Optimistic paints: "x,y" → {seq, color, accepted, sawUpdate}; drawn over the tile copy. */
const overlay = new Map();
/** Paints waiting for their PaintResult: seq → {x, y, color}. */
const pending = new Map();
let nextSeq = 1;
let selected = 0;
let zoom = 0;
let lastResult = null;
let cooldownUntil = 0;
let cooldownTimer = 0;
let cooldownText = '';

// ---------------------------------------------------------------------------------------------
// Status

function setStatus(text, kind = 'info') {
  statusLine.textContent = text;
  statusLine.dataset.kind = kind;
}

function setState(next, text) {
  state = next;
  connectionBadge.dataset.state = next;
  connectionBadge.textContent = text;
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

function startCooldown(ms, text) {
  cooldownUntil = Date.now() + ms;
  cooldownText = text;
  clearInterval(cooldownTimer);
  const tick = () => {
    const left = cooldownUntil - Date.now();
    if (left <= 0) {
      clearInterval(cooldownTimer);
      cooldownTimer = 0;
      canvas.style.cursor = '';
      if (state === 'open') setStatus('Ready: pick a colour and click the board to paint.');
    } else {
      canvas.style.cursor = 'wait';
      // While disconnected the status line tells about the connection instead.
      if (state === 'open') setStatus(`${cooldownText} You can paint again in ${seconds(left)}.`, 'wait');
    }
  };
  tick();
  cooldownTimer = setInterval(tick, 100);
}

// ---------------------------------------------------------------------------------------------
// Connection

function readToken() {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function writeToken(token) {
  try {
    if (token === null) localStorage.removeItem(TOKEN_KEY);
    else localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage refused (private mode): the server issues a new identity on every connection.
  }
}

function connect() {
  reconnectTimer = 0;
  setState('connecting', 'connecting…');
  const token = readToken();
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  const ws = new WebSocket(`${scheme}://${location.host}/ws${query}`);
  ws.binaryType = 'arraybuffer';
  socket = ws;
  ws.onmessage = (event) => {
    if (socket !== ws) return;
    if (typeof event.data === 'string') {
      setStatus('The server sent a text frame; ignored.', 'error');
      return;
    }
    let messages;
    try {
      messages = decodeServerFrame(event.data);
    } catch (e) {
      setStatus(`Unreadable message from the server (${e.message}); reconnecting.`, 'error');
      ws.close(1000, 'unreadable frame');
      return;
    }
    for (const msg of messages) {
      handle(msg);
      if (socket !== ws) return;
    }
    if (resyncWanted) {
      resyncWanted = false;
      // 6.3 of the protocol: re-sending the current SetViewport unchanged asks for a fresh
      // TileState of every tile in view.
      sendViewport();
    }
    flush();
  };
  ws.onclose = (event) => {
    if (socket !== ws) return;
    socket = null;
    disconnected(event.code, event.reason);
  };
}

function send(msg) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(encodeClient(msg));
}

function disconnected(code, reason) {
  // Versions are only comparable within one connection (6.3): everything is fetched again.
  tiles.clear();
  awaiting.clear();
  dirty.clear();
  pending.clear();
  const stale = [...overlay.keys()];
  overlay.clear();
  for (const key of stale) redrawPixel(key);
  if (fatal) {
    setState('closed', 'disconnected');
    return;
  }
  let delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
  delay = Math.round(delay * (0.5 + Math.random() / 2));
  attempt += 1;
  if (code === 4003) {
    // The stored token is malformed: forget it and get a new identity right away.
    writeToken(null);
    delay = 0;
  }
  setState('closed', 'disconnected');
  const why = reason ? `${code}: ${reason}` : `code ${code}`;
  setStatus(`Connection lost (${why}); reconnecting in ${seconds(delay)}.`, 'error');
  reconnectTimer = setTimeout(connect, delay);
}

// ---------------------------------------------------------------------------------------------
// Server messages

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
      return setStatus(`The server refused a message: ${msg.code} (${msg.message}).`, 'error');
  }
}

function onWelcome(msg) {
  if (msg.protocolVersion !== PROTOCOL_VERSION) {
    fatal = true;
    setStatus(
      `The server speaks protocol ${msg.protocolVersion}, this page ${PROTOCOL_VERSION}: please reload.`,
      'error',
    );
    socket.close(1000, 'unsupported protocol version');
    return;
  }
  writeToken(msg.userToken);
  limits = msg.limits;
  const info = msg.boards[BOARD];
  if (!info) {
    fatal = true;
    setStatus('The server has no boards.', 'error');
    socket.close(1000, 'no board');
    return;
  }
  attempt = 0;
  setupBoard(info);
  setState('open', 'connected');
  sendViewport();
  if (Date.now() >= cooldownUntil) setStatus('Ready: pick a colour and click the board to paint.');
}

function setupBoard(info) {
  const paletteChanged = !board || JSON.stringify(board.palette) !== JSON.stringify(info.palette);
  board = info;
  $('board-name').textContent = `${info.id} · ${info.width} × ${info.height}`;
  colours = new Uint32Array(info.palette.length);
  const rgba = new Uint8Array(colours.buffer);
  info.palette.forEach(([r, g, b], i) => rgba.set([r, g, b, 255], i * 4));
  if (paletteChanged) buildPalette();

  const next = chooseViewport(info, Number(limits.maxViewportArea));
  if (!viewport || next.width !== viewport.width || next.height !== viewport.height) {
    canvas.width = next.width;
    canvas.height = next.height;
    ctx.fillStyle = UNLOADED;
    ctx.fillRect(0, 0, next.width, next.height);
  }
  viewport = next;
  viewKeys = new Set();
  const ts = info.tileSize;
  for (let ty = Math.floor(viewport.y / ts); ty <= Math.floor((viewport.y + viewport.height - 1) / ts); ty++) {
    for (let tx = Math.floor(viewport.x / ts); tx <= Math.floor((viewport.x + viewport.width - 1) / ts); tx++) {
      viewKeys.add(`${tx},${ty}`);
    }
  }
  if (zoom === 0) setZoom(fittingZoom());
  else setZoom(zoom);
}

/** The whole board if its area is allowed, otherwise the largest top-left region that is. */
function chooseViewport(info, maxArea) {
  if (info.width * info.height <= maxArea) return { x: 0, y: 0, width: info.width, height: info.height };
  let width = Math.min(info.width, Math.max(1, Math.floor(Math.sqrt(maxArea))));
  const height = Math.min(info.height, Math.max(1, Math.floor(maxArea / width)));
  width = Math.min(info.width, Math.max(1, Math.floor(maxArea / height)));
  return { x: 0, y: 0, width, height };
}

function sendViewport() {
  for (const key of viewKeys) awaiting.add(key);
  send({ type: 'SetViewport', board: BOARD, ...viewport });
}

function inView(key) {
  return viewKeys.has(key);
}

function onTileState(msg) {
  const key = `${msg.tx},${msg.ty}`;
  if (msg.board !== BOARD || !inView(key)) return;
  const image = new ImageData(msg.width, msg.height);
  const tile = {
    tx: msg.tx,
    ty: msg.ty,
    x: msg.tx * board.tileSize,
    y: msg.ty * board.tileSize,
    width: msg.width,
    height: msg.height,
    version: msg.version,
    pixels: msg.pixels,
    image,
    words: new Uint32Array(image.data.buffer),
  };
  for (let i = 0; i < tile.pixels.length; i++) tile.words[i] = colours[tile.pixels[i]];
  // Our paints still in flight stay visible over the server's copy.
  for (const [pixelKey, paint] of overlay) {
    const [x, y] = pixelKey.split(',').map(Number);
    const dx = x - tile.x;
    const dy = y - tile.y;
    if (dx >= 0 && dy >= 0 && dx < tile.width && dy < tile.height) {
      tile.words[dy * tile.width + dx] = colours[paint.color];
    }
  }
  tiles.set(key, tile);
  awaiting.delete(key);
  dirty.add(tile);
}

function onTileUpdate(msg) {
  const key = `${msg.tx},${msg.ty}`;
  if (msg.board !== BOARD || !inView(key)) return;
  const tile = tiles.get(key);
  if (!tile) {
    // No copy: if its state is not on the way, we missed it.
    if (!awaiting.has(key)) resyncWanted = true;
    return;
  }
  // Versions are Numbers below 2^53 (protocol.js), so plain comparisons hold.
  if (msg.version <= tile.version) return; // already contained in our copy
  if (msg.baseVersion !== tile.version) {
    // A gap: drop the tile (its last image stays on screen) and ask for fresh states, unless
    // they are already on the way.
    if (!awaiting.has(key)) {
      tiles.delete(key);
      resyncWanted = true;
    }
    return;
  }
  for (const { dx, dy, color } of msg.changes) {
    if (dx >= tile.width || dy >= tile.height || color >= colours.length) continue;
    const i = dy * tile.width + dx;
    tile.pixels[i] = color;
    const pixelKey = `${tile.x + dx},${tile.y + dy}`;
    const paint = overlay.get(pixelKey);
    if (paint?.accepted) {
      overlay.delete(pixelKey);
    } else if (paint) {
      paint.sawUpdate = true;
      continue;
    }
    tile.words[i] = colours[color];
  }
  tile.version = msg.version;
  dirty.add(tile);
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
          flush();
        }
      }, ACCEPTED_OVERLAY_MS);
    }
    const done = `Painted (${x}, ${y}) ${hex(board.palette[color])}.`;
    if (board.cooldownMs > 0) startCooldown(board.cooldownMs, done);
    else if (Date.now() >= cooldownUntil) setStatus(done);
  } else {
    if (current) dropOverlay(pixelKey);
    const { reason, retryAfterMs } = msg.outcome;
    const text = `Paint at (${x}, ${y}) rejected: ${REJECT_TEXT[reason] ?? reason}.`;
    if (retryAfterMs > 0) startCooldown(retryAfterMs, text);
    else setStatus(text, 'error');
  }
}

// ---------------------------------------------------------------------------------------------
// Drawing

function tileOf(x, y) {
  const ts = board.tileSize;
  return tiles.get(`${Math.floor(x / ts)},${Math.floor(y / ts)}`);
}

/** Shows the pixel "x,y" from the tile copy (after its optimistic paint went away). */
function redrawPixel(pixelKey) {
  const [x, y] = pixelKey.split(',').map(Number);
  const tile = board && tileOf(x, y);
  if (!tile) return;
  const i = (y - tile.y) * tile.width + (x - tile.x);
  tile.words[i] = colours[tile.pixels[i]];
  dirty.add(tile);
}

function dropOverlay(pixelKey) {
  overlay.delete(pixelKey);
  redrawPixel(pixelKey);
}

function flush() {
  for (const tile of dirty) ctx.putImageData(tile.image, tile.x - viewport.x, tile.y - viewport.y);
  dirty.clear();
}

function fittingZoom() {
  const fit = Math.min(
    (stage.clientWidth - 32) / viewport.width,
    (stage.clientHeight - 32) / viewport.height,
  );
  return Math.max(1, Math.min(16, Math.floor(fit)));
}

function setZoom(next) {
  const z = Math.max(1, Math.min(MAX_ZOOM, next));
  // Keep the point at the centre of the stage in place.
  const cx = (stage.scrollLeft + stage.clientWidth / 2) / Math.max(1, stage.scrollWidth);
  const cy = (stage.scrollTop + stage.clientHeight / 2) / Math.max(1, stage.scrollHeight);
  zoom = z;
  canvas.style.width = `${viewport.width * z}px`;
  canvas.style.height = `${viewport.height * z}px`;
  stage.scrollLeft = cx * stage.scrollWidth - stage.clientWidth / 2;
  stage.scrollTop = cy * stage.scrollHeight - stage.clientHeight / 2;
  zoomLevel.textContent = `${z}×`;
  zoomOut.disabled = z <= 1;
  zoomIn.disabled = z >= MAX_ZOOM;
}

// ---------------------------------------------------------------------------------------------
// Painting

function hex([r, g, b]) {
  return `#${[r, g, b].map((c) => c.toString(16).padStart(2, '0')).join('').toUpperCase()}`;
}

function buildPalette() {
  paletteBar.replaceChildren(
    ...board.palette.map((rgb, i) => {
      const swatch = document.createElement('button');
      swatch.type = 'button';
      swatch.className = 'swatch';
      swatch.dataset.testid = `swatch-${i}`;
      swatch.dataset.index = String(i);
      swatch.setAttribute('role', 'radio');
      swatch.title = `${i}: ${hex(rgb)}`;
      swatch.setAttribute('aria-label', `colour ${i}, ${hex(rgb)}`);
      swatch.style.background = hex(rgb);
      swatch.addEventListener('click', () => select(i));
      return swatch;
    }),
  );
  // The first colour that is not the background, so a first click shows.
  select(board.background === 0 ? 1 % board.palette.length : 0);
}

function select(index) {
  selected = index;
  for (const swatch of paletteBar.children) {
    swatch.setAttribute('aria-checked', String(Number(swatch.dataset.index) === index));
  }
}

function paint(x, y) {
  if (state !== 'open') {
    setStatus('Not connected: wait for the connection to come back.', 'error');
    return;
  }
  if (Date.now() < cooldownUntil) return; // the countdown is on the status line
  const tile = tileOf(x, y);
  if (!tile) {
    setStatus('That part of the board is still loading.', 'wait');
    return;
  }
  const seq = nextSeq;
  nextSeq = nextSeq >= 0xffffffff ? 1 : nextSeq + 1;
  const color = selected;
  overlay.set(`${x},${y}`, { seq, color, accepted: false, sawUpdate: false });
  pending.set(seq, { x, y, color });
  tile.words[(y - tile.y) * tile.width + (x - tile.x)] = colours[color];
  dirty.add(tile);
  flush();
  send({ type: 'Paint', seq, board: BOARD, x, y, color });
  setStatus(`Painting (${x}, ${y})…`);
}

canvas.addEventListener('click', (event) => {
  if (!viewport) return;
  const rect = canvas.getBoundingClientRect();
  const x = viewport.x + Math.floor(((event.clientX - rect.left) * viewport.width) / rect.width);
  const y = viewport.y + Math.floor(((event.clientY - rect.top) * viewport.height) / rect.height);
  if (x < viewport.x || y < viewport.y || x >= viewport.x + viewport.width || y >= viewport.y + viewport.height) {
    return;
  }
  paint(x, y);
});

zoomIn.addEventListener('click', () => viewport && setZoom(zoom + 1));
zoomOut.addEventListener('click', () => viewport && setZoom(zoom - 1));
document.addEventListener('keydown', (event) => {
  if (!viewport || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === '+' || event.key === '=') setZoom(zoom + 1);
  else if (event.key === '-') setZoom(zoom - 1);
});

// ---------------------------------------------------------------------------------------------
// For tests and the console.

window.tessera = Object.freeze({
  /** 'connecting' | 'open' | 'closed'. */
  get state() {
    return state;
  },
  /** Tiles in view whose state we hold. */
  get tilesLoaded() {
    let n = 0;
    for (const key of viewKeys) if (tiles.has(key)) n++;
    return n;
  },
  get tilesInView() {
    return viewKeys.size;
  },
  get board() {
    return board;
  },
  get viewport() {
    return viewport && { ...viewport };
  },
  /** The last PaintResult: {seq, x, y, color, outcome: {type, reason?, retryAfterMs?}}. */
  get lastResult() {
    return lastResult;
  },
  get selected() {
    return selected;
  },
  get zoom() {
    return zoom;
  },
  /** The palette index of board pixel (x, y) in our copy of its tile (what the server sent,
   *  without optimistic paints), or null when that tile is not loaded. */
  pixel(x, y) {
    const tile = board && tileOf(x, y);
    if (!tile) return null;
    const dx = x - tile.x;
    const dy = y - tile.y;
    if (dx < 0 || dy < 0 || dx >= tile.width || dy >= tile.height) return null;
    return tile.pixels[dy * tile.width + dx];
  },
});

connect();
