// The websocket to the server (docs/protocol.md): connects, decodes frames, reconnects with
// jittered exponential backoff, and keeps the user's identity token in localStorage so it
// survives reloads.

import { PROTOCOL_VERSION, CLOSE_CODES, decodeServerFrame, encodeClient } from './protocol.js';

const TOKEN_KEY = 'tessera.token';
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;

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
    this.timer = 0;
    this.fatal = false;
    this.bytesReceived = 0;
    this.framesReceived = 0;
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
      this.framesReceived += 1;
      let messages;
      try {
        messages = decodeServerFrame(event.data);
      } catch (e) {
        // The close event reconnects; a fresh connection resynchronises everything.
        console.warn(`unreadable frame from the server: ${e.message}`);
        ws.close(CLOSE_CODES.NORMAL, 'unreadable frame');
        return;
      }
      if (!welcomed) {
        const welcome = messages[0];
        if (welcome?.type !== 'Welcome') return this.giveUp(ws, 'the server did not start with a Welcome');
        if (welcome.protocolVersion !== PROTOCOL_VERSION) {
          return this.giveUp(
            ws,
            `the server speaks protocol ${welcome.protocolVersion}, this page ${PROTOCOL_VERSION}: please reload`,
          );
        }
        welcomed = true;
        this.attempt = 0;
        writeToken(welcome.userToken);
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
    let delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
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
