// The websocket to the server (docs/protocol.md): connects, decodes frames, reconnects with
// jittered exponential backoff, and keeps the user's identity token in localStorage so it
// survives reloads.

import { PROTOCOL_VERSION, CLOSE_CODES, decodeServerFrame, encodeClient, welcomeVersion } from './protocol.js';

const TOKEN_KEY = 'tessera.token';
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
/** A connection open this long counts as working: the next disconnect starts the backoff anew. */
const STABLE_MS = 10000;
/** After being closed as slow (4001) or flooding (4002), wait at least this long. */
const SLOW_MIN_MS = 5000;

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

export class Connection {
  /**
   * Callbacks: `frame(messages)` for each decoded frame (the first is the Welcome),
   * `state(state, detail)` on every change: 'connecting', 'open' (Welcome received),
   * 'closed' (detail: {code, reason, retryInMs}) or 'fatal' (detail: {message}).
   */
  constructor({ frame, state }) {
    this.onFrame = frame;
    this.onState = state;
    this.socket = null;
    this.attempt = 0;
    this.openedAt = 0;
    this.timer = 0;
    this.fatal = false;
    this.bytesReceived = 0;
    this.decodeMs = 0;
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = 0;
    this.onState('connecting', {});
    const token = readToken();
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const query = token ? `?token=${encodeURIComponent(token)}` : '';
    const ws = new WebSocket(`${scheme}://${location.host}/ws${query}`);
    ws.binaryType = 'arraybuffer';
    this.socket = ws;
    let welcomed = false;
    ws.onmessage = (event) => {
      if (this.socket !== ws) return;
      if (typeof event.data === 'string') return; // the protocol has no text frames
      this.bytesReceived += event.data.byteLength;
      if (!welcomed) {
        // Protocol 6.1/9: the Welcome's tag and protocol_version are readable whatever else a
        // newer server changed; check them before decoding anything.
        const version = welcomeVersion(event.data);
        if (version === null) {
          return this.giveUp(ws, 'the server did not start with a Welcome: please reload');
        }
        if (version !== PROTOCOL_VERSION) {
          return this.giveUp(ws, `the server speaks protocol ${version}, this page ${PROTOCOL_VERSION}: please reload`);
        }
      }
      let messages;
      const start = performance.now();
      try {
        messages = decodeServerFrame(event.data);
        this.decodeMs += performance.now() - start;
      } catch (e) {
        // Over TCP this is version skew or a bug, not noise: reconnecting would only repeat it.
        return this.giveUp(ws, `unreadable message from the server (${e.message}): please reload`);
      }
      if (!welcomed) {
        welcomed = true;
        this.openedAt = Date.now();
        writeToken(messages[0].userToken);
        this.onState('open', {});
      }
      this.onFrame(messages);
    };
    ws.onclose = (event) => {
      if (this.socket !== ws) return;
      this.socket = null;
      this.closed(event.code, event.reason);
    };
  }

  giveUp(ws, message) {
    this.fatal = true;
    ws.close(CLOSE_CODES.NORMAL, 'unsupported server');
    this.socket = null;
    this.onState('fatal', { message });
  }

  closed(code, reason) {
    if (this.fatal) return;
    // Only a connection that lasted resets the backoff, so a server that accepts and then
    // closes at once (overloaded, or closing us as slow) is not hammered every half second.
    if (this.openedAt && Date.now() - this.openedAt > STABLE_MS) this.attempt = 0;
    this.openedAt = 0;
    let delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    if (code === CLOSE_CODES.SLOW_CONSUMER || code === CLOSE_CODES.FLOOD) delay = Math.max(delay, SLOW_MIN_MS);
    delay = Math.round(delay * (0.5 + Math.random() / 2));
    this.attempt += 1;
    if (code === CLOSE_CODES.BAD_TOKEN) {
      // The stored token is malformed: forget it and get a new identity right away.
      writeToken(null);
      delay = 0;
    }
    this.onState('closed', { code, reason, retryInMs: delay });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Reconnects now instead of waiting out the backoff (e.g. when the tab becomes visible). */
  retryNow() {
    if (this.socket || this.fatal || !this.timer) return;
    this.connect();
  }

  get open() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  send(msg) {
    if (!this.open) return false;
    this.socket.send(encodeClient(msg));
    return true;
  }
}
