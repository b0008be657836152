// Tessera websocket protocol codec: a plain ES module with no dependencies, for browsers and
// Node.js >= 20. The wire format is defined byte by byte in docs/protocol.md; this module is
// tested against the golden vectors in tests/golden/ (tests/js/protocol.test.mjs). Every
// integer wider than a byte, variant tags and lengths included, is a varint (docs/protocol.md,
// section 2): one byte up to 250, else a prefix byte (251, 252, 253) and 2, 4 or 8 bytes.
//
// Messages are plain objects with a `type` field naming the variant:
//
//   client: {type:'SetViewport', board, x, y, width, height}
//           {type:'Paint', seq, board, x, y, color}
//   server: {type:'Welcome', protocolVersion, sessionId, userToken,
//            limits:{tickMs, maxMessageBytes, maxViewportArea, maxMessagesPerSecond},
//            boards:[{id, width, height, tileSize, cooldownMs, background, palette:[[r,g,b], ...]}]}
//           {type:'TileState', board, tx, ty, version, width, height, pixels: Uint8Array}
//           {type:'TileUpdate', board, tx, ty, baseVersion, version, changes:[{dx, dy, color}]}
//           {type:'PaintResult', seq, outcome: {type:'Accepted'}
//                                            | {type:'Rejected', reason, retryAfterMs}}
//           {type:'Error', code, message}
//
// `reason` is one of REJECT_REASONS and `code` one of ERROR_CODES.
//
// 64-bit integers (sessionId, maxViewportArea, version, baseVersion) decode to a Number when
// they are at most Number.MAX_SAFE_INTEGER (2^53 - 1), which is always the case in practice, and
// to a BigInt above that, so no value is ever silently rounded. The encoders accept either.
//
// Decoding throws a ProtocolError (a subclass of Error) on truncated input, unknown variants,
// invalid UTF-8, inconsistent lengths and trailing bytes; encoding throws a TypeError or
// RangeError naming the offending field.

/** Bumped by the server on any change to the bytes of an existing message. */
export const PROTOCOL_VERSION = 2;

// Variant names in wire order: a name's index is its tag (a u32 varint) on the wire.
export const CLIENT_MESSAGE_TYPES = Object.freeze(['SetViewport', 'Paint']);
export const SERVER_MESSAGE_TYPES = Object.freeze([
  'Welcome',
  'TileState',
  'TileUpdate',
  'PaintResult',
  'Error',
]);
export const PAINT_OUTCOMES = Object.freeze(['Accepted', 'Rejected']);
export const REJECT_REASONS = Object.freeze([
  'Cooldown',
  'UnknownBoard',
  'OutOfBounds',
  'InvalidColor',
  'RateLimited',
  'Unavailable',
]);
export const ERROR_CODES = Object.freeze([
  'Malformed',
  'TextFrame',
  'UnknownBoard',
  'ViewportOffBoard',
  'ViewportTooLarge',
  'RateLimited',
]);

/** Websocket close codes the server uses. */
export const CLOSE_CODES = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SLOW_CONSUMER: 4001,
  FLOOD: 4002,
  BAD_TOKEN: 4003,
});

/** Bytes that are not a valid message. */
export class ProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ProtocolError';
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const U64_LIMIT = 1n << 64n;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

// Smallest encoded size of one list item, used to refuse absurd lengths before looping: a
// BoardInfo of one-byte fields and an empty id and palette, a PixelChange of one-byte dx and dy.
const BOARD_INFO_MIN_BYTES = 7;
const PIXEL_CHANGE_MIN_BYTES = 3;

// Varint prefixes: a first byte up to MAX_ONE_BYTE is the value itself; a prefix says that a
// u16, u32 or u64 follows, little-endian. A field refuses a prefix wider than its type.
const MAX_ONE_BYTE = 250;
const PREFIX_U16 = 251;
const PREFIX_U32 = 252;
const PREFIX_U64 = 253;

function asBytes(input) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError('expected a Uint8Array, an ArrayBuffer or another ArrayBuffer view');
}

class Reader {
  constructor(input) {
    this.bytes = asBytes(input);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    this.pos = 0;
  }

  get remaining() {
    return this.bytes.byteLength - this.pos;
  }

  /** Reserves `n` bytes for `what` and returns their offset. */
  take(n, what) {
    if (n > this.remaining) {
      throw new ProtocolError(
        `truncated input: ${what} needs ${n} bytes at offset ${this.pos}, but only ${this.remaining} remain`,
      );
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(what) {
    return this.view.getUint8(this.take(1, what));
  }

  /** A varint whose prefix is at most `widest`: a Number, or a BigInt above 2^53 - 1. */
  varint(widest, what) {
    const at = this.pos;
    const first = this.bytes[this.take(1, what)];
    if (first <= MAX_ONE_BYTE) return first;
    if (first > widest) {
      throw new ProtocolError(`${what} at offset ${at} starts with ${first}, which is not a valid prefix for its type`);
    }
    switch (first) {
      case PREFIX_U16:
        return this.view.getUint16(this.take(2, what), true);
      case PREFIX_U32:
        return this.view.getUint32(this.take(4, what), true);
      default: {
        const value = this.view.getBigUint64(this.take(8, what), true);
        return value <= MAX_SAFE ? Number(value) : value;
      }
    }
  }

  u16(what) {
    return this.varint(PREFIX_U16, what);
  }

  u32(what) {
    return this.varint(PREFIX_U32, what);
  }

  u64(what) {
    return this.varint(PREFIX_U64, what);
  }

  /** A u64 length prefix of items of at least `itemBytes` bytes each, checked against the input. */
  length(what, itemBytes) {
    const at = this.pos;
    const n = BigInt(this.u64(`${what} length`));
    if (n * BigInt(itemBytes) > BigInt(this.remaining)) {
      throw new ProtocolError(
        `truncated input: ${what} at offset ${at} declares ${n} items of ${itemBytes} or more bytes, ` +
          `but only ${this.remaining} bytes remain`,
      );
    }
    return Number(n);
  }

  /** A u64 length and that many raw bytes, copied. */
  byteList(what) {
    const n = this.length(what, 1);
    const at = this.take(n, what);
    return this.bytes.slice(at, at + n);
  }

  string(what) {
    const n = this.length(what, 1);
    const at = this.take(n, what);
    try {
      return textDecoder.decode(this.bytes.subarray(at, at + n));
    } catch {
      throw new ProtocolError(`${what} at offset ${at} is not valid UTF-8`);
    }
  }

  /** A variant tag (a u32), returned as its name in `names`. */
  variant(names, what) {
    const at = this.pos;
    const tag = this.u32(`${what} tag`);
    if (tag >= names.length) {
      throw new ProtocolError(
        `unknown ${what} variant ${tag} at offset ${at} (this client knows 0..${names.length - 1}: ` +
          `${names.join(', ')}); the server may speak a newer protocol`,
      );
    }
    return names[tag];
  }

  /** Throws unless every byte was used. */
  end(what) {
    if (this.remaining !== 0) {
      throw new ProtocolError(`${this.remaining} trailing bytes after a complete ${what} (offset ${this.pos})`);
    }
  }
}

class Writer {
  constructor() {
    this.buf = new Uint8Array(64);
    this.view = new DataView(this.buf.buffer);
    this.len = 0;
  }

  reserve(n) {
    if (this.len + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.len + n) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  // Each writer reserves before touching `this.view`: reserving may replace the buffer.

  u8(value, what) {
    checkUint(value, 0xff, what);
    const at = this.reserve(1);
    this.view.setUint8(at, value);
  }

  /** The shortest varint of `value`, a Number in 0..2^32-1. */
  varint32(value) {
    if (value <= MAX_ONE_BYTE) {
      this.view.setUint8(this.reserve(1), value);
    } else if (value <= 0xffff) {
      const at = this.reserve(3);
      this.view.setUint8(at, PREFIX_U16);
      this.view.setUint16(at + 1, value, true);
    } else {
      const at = this.reserve(5);
      this.view.setUint8(at, PREFIX_U32);
      this.view.setUint32(at + 1, value, true);
    }
  }

  u16(value, what) {
    this.varint32(checkUint(value, 0xffff, what));
  }

  u32(value, what) {
    this.varint32(checkUint(value, 0xffffffff, what));
  }

  u64(value, what) {
    let big;
    if (typeof value === 'bigint') {
      big = value;
    } else if (typeof value === 'number' && Number.isSafeInteger(value)) {
      big = BigInt(value);
    } else {
      throw new TypeError(`${what} must be a safe integer Number or a BigInt, got ${describe(value)}`);
    }
    if (big < 0n || big >= U64_LIMIT) throw new RangeError(`${what} must be in 0..2^64-1, got ${big}`);
    if (big <= 0xffffffffn) {
      this.varint32(Number(big));
    } else {
      const at = this.reserve(9);
      this.view.setUint8(at, PREFIX_U64);
      this.view.setBigUint64(at + 1, big, true);
    }
  }

  variant(names, name, what) {
    const tag = names.indexOf(name);
    if (tag < 0) throw new TypeError(`unknown ${what} ${describe(name)}; expected one of ${names.join(', ')}`);
    this.u32(tag, `${what} tag`);
  }

  raw(bytes) {
    const at = this.reserve(bytes.length);
    this.buf.set(bytes, at);
  }

  byteList(value, what) {
    let bytes;
    if (value instanceof Uint8Array) {
      bytes = value;
    } else if (Array.isArray(value)) {
      bytes = Uint8Array.from(value, (b, i) => checkUint(b, 0xff, `${what}[${i}]`));
    } else {
      throw new TypeError(`${what} must be a Uint8Array or an array of bytes, got ${describe(value)}`);
    }
    this.u64(bytes.length, `${what} length`);
    this.raw(bytes);
  }

  string(value, what) {
    if (typeof value !== 'string') throw new TypeError(`${what} must be a string, got ${describe(value)}`);
    const bytes = textEncoder.encode(value);
    this.u64(bytes.length, `${what} length`);
    this.raw(bytes);
  }

  list(value, what) {
    if (!Array.isArray(value)) throw new TypeError(`${what} must be an array, got ${describe(value)}`);
    this.u64(value.length, `${what} length`);
    return value;
  }

  finish() {
    return this.buf.slice(0, this.len);
  }
}

function describe(value) {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return 'an array';
  if (value === null || typeof value !== 'object') return String(value);
  return `an object`;
}

function checkUint(value, max, what) {
  if (typeof value !== 'number') throw new TypeError(`${what} must be a Number, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${what} must be an integer in 0..${max}, got ${value}`);
  }
  return value;
}

function checkObject(value, what) {
  if (value === null || typeof value !== 'object') {
    throw new TypeError(`${what} must be an object, got ${describe(value)}`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Client messages

function writeClient(w, msg) {
  checkObject(msg, 'ClientMessage');
  w.variant(CLIENT_MESSAGE_TYPES, msg.type, 'ClientMessage type');
  switch (msg.type) {
    case 'SetViewport':
      w.u16(msg.board, 'SetViewport.board');
      w.u32(msg.x, 'SetViewport.x');
      w.u32(msg.y, 'SetViewport.y');
      w.u32(msg.width, 'SetViewport.width');
      w.u32(msg.height, 'SetViewport.height');
      break;
    case 'Paint':
      w.u32(msg.seq, 'Paint.seq');
      w.u16(msg.board, 'Paint.board');
      w.u32(msg.x, 'Paint.x');
      w.u32(msg.y, 'Paint.y');
      w.u8(msg.color, 'Paint.color');
      break;
  }
}

function readClient(r) {
  const type = r.variant(CLIENT_MESSAGE_TYPES, 'ClientMessage');
  switch (type) {
    case 'SetViewport':
      return {
        type,
        board: r.u16('SetViewport.board'),
        x: r.u32('SetViewport.x'),
        y: r.u32('SetViewport.y'),
        width: r.u32('SetViewport.width'),
        height: r.u32('SetViewport.height'),
      };
    case 'Paint':
      return {
        type,
        seq: r.u32('Paint.seq'),
        board: r.u16('Paint.board'),
        x: r.u32('Paint.x'),
        y: r.u32('Paint.y'),
        color: r.u8('Paint.color'),
      };
  }
}

/** Encodes one client message: the payload of one binary websocket frame. */
export function encodeClient(msg) {
  const w = new Writer();
  writeClient(w, msg);
  return w.finish();
}

/** Decodes one client message; trailing bytes are an error (as on the server). */
export function decodeClient(bytes) {
  const r = new Reader(bytes);
  const msg = readClient(r);
  r.end('ClientMessage');
  return msg;
}

// ---------------------------------------------------------------------------------------------
// Server messages

function readServer(r) {
  const type = r.variant(SERVER_MESSAGE_TYPES, 'ServerMessage');
  switch (type) {
    case 'Welcome': {
      const protocolVersion = r.u16('Welcome.protocolVersion');
      const sessionId = r.u64('Welcome.sessionId');
      const userToken = r.string('Welcome.userToken');
      const limits = {
        tickMs: r.u32('Welcome.limits.tickMs'),
        maxMessageBytes: r.u32('Welcome.limits.maxMessageBytes'),
        maxViewportArea: r.u64('Welcome.limits.maxViewportArea'),
        maxMessagesPerSecond: r.u32('Welcome.limits.maxMessagesPerSecond'),
      };
      const boardCount = r.length('Welcome.boards', BOARD_INFO_MIN_BYTES);
      const boards = [];
      for (let i = 0; i < boardCount; i++) {
        const at = `Welcome.boards[${i}]`;
        const board = {
          id: r.string(`${at}.id`),
          width: r.u32(`${at}.width`),
          height: r.u32(`${at}.height`),
          tileSize: r.u32(`${at}.tileSize`),
          cooldownMs: r.u32(`${at}.cooldownMs`),
          background: r.u8(`${at}.background`),
          palette: [],
        };
        const colours = r.length(`${at}.palette`, 3);
        for (let c = 0; c < colours; c++) {
          const start = r.take(3, `${at}.palette[${c}]`);
          board.palette.push([r.bytes[start], r.bytes[start + 1], r.bytes[start + 2]]);
        }
        boards.push(board);
      }
      return { type, protocolVersion, sessionId, userToken, limits, boards };
    }
    case 'TileState': {
      const msg = {
        type,
        board: r.u16('TileState.board'),
        tx: r.u16('TileState.tx'),
        ty: r.u16('TileState.ty'),
        version: r.u64('TileState.version'),
        width: r.u16('TileState.width'),
        height: r.u16('TileState.height'),
      };
      const at = r.pos;
      msg.pixels = r.byteList('TileState.pixels');
      if (msg.pixels.length !== msg.width * msg.height) {
        throw new ProtocolError(
          `TileState.pixels at offset ${at} holds ${msg.pixels.length} bytes, ` +
            `not width * height = ${msg.width} * ${msg.height}`,
        );
      }
      return msg;
    }
    case 'TileUpdate': {
      const msg = {
        type,
        board: r.u16('TileUpdate.board'),
        tx: r.u16('TileUpdate.tx'),
        ty: r.u16('TileUpdate.ty'),
        baseVersion: r.u64('TileUpdate.baseVersion'),
        version: r.u64('TileUpdate.version'),
        changes: [],
      };
      const count = r.length('TileUpdate.changes', PIXEL_CHANGE_MIN_BYTES);
      for (let i = 0; i < count; i++) {
        msg.changes.push({
          dx: r.u16(`TileUpdate.changes[${i}].dx`),
          dy: r.u16(`TileUpdate.changes[${i}].dy`),
          color: r.u8(`TileUpdate.changes[${i}].color`),
        });
      }
      return msg;
    }
    case 'PaintResult': {
      const seq = r.u32('PaintResult.seq');
      const outcomeType = r.variant(PAINT_OUTCOMES, 'PaintOutcome');
      const outcome =
        outcomeType === 'Accepted'
          ? { type: outcomeType }
          : {
              type: outcomeType,
              reason: r.variant(REJECT_REASONS, 'RejectReason'),
              retryAfterMs: r.u32('PaintOutcome.Rejected.retryAfterMs'),
            };
      return { type, seq, outcome };
    }
    case 'Error':
      return { type, code: r.variant(ERROR_CODES, 'ErrorCode'), message: r.string('Error.message') };
  }
}

function writeServer(w, msg) {
  checkObject(msg, 'ServerMessage');
  w.variant(SERVER_MESSAGE_TYPES, msg.type, 'ServerMessage type');
  switch (msg.type) {
    case 'Welcome': {
      w.u16(msg.protocolVersion, 'Welcome.protocolVersion');
      w.u64(msg.sessionId, 'Welcome.sessionId');
      w.string(msg.userToken, 'Welcome.userToken');
      const limits = checkObject(msg.limits, 'Welcome.limits');
      w.u32(limits.tickMs, 'Welcome.limits.tickMs');
      w.u32(limits.maxMessageBytes, 'Welcome.limits.maxMessageBytes');
      w.u64(limits.maxViewportArea, 'Welcome.limits.maxViewportArea');
      w.u32(limits.maxMessagesPerSecond, 'Welcome.limits.maxMessagesPerSecond');
      w.list(msg.boards, 'Welcome.boards').forEach((board, i) => {
        const at = `Welcome.boards[${i}]`;
        checkObject(board, at);
        w.string(board.id, `${at}.id`);
        w.u32(board.width, `${at}.width`);
        w.u32(board.height, `${at}.height`);
        w.u32(board.tileSize, `${at}.tileSize`);
        w.u32(board.cooldownMs, `${at}.cooldownMs`);
        w.u8(board.background, `${at}.background`);
        w.list(board.palette, `${at}.palette`).forEach((rgb, c) => {
          if (rgb === null || typeof rgb !== 'object' || rgb.length !== 3) {
            throw new TypeError(`${at}.palette[${c}] must be [r, g, b], got ${describe(rgb)}`);
          }
          for (let k = 0; k < 3; k++) w.u8(rgb[k], `${at}.palette[${c}][${k}]`);
        });
      });
      break;
    }
    case 'TileState':
      w.u16(msg.board, 'TileState.board');
      w.u16(msg.tx, 'TileState.tx');
      w.u16(msg.ty, 'TileState.ty');
      w.u64(msg.version, 'TileState.version');
      w.u16(msg.width, 'TileState.width');
      w.u16(msg.height, 'TileState.height');
      w.byteList(msg.pixels, 'TileState.pixels');
      break;
    case 'TileUpdate':
      w.u16(msg.board, 'TileUpdate.board');
      w.u16(msg.tx, 'TileUpdate.tx');
      w.u16(msg.ty, 'TileUpdate.ty');
      w.u64(msg.baseVersion, 'TileUpdate.baseVersion');
      w.u64(msg.version, 'TileUpdate.version');
      w.list(msg.changes, 'TileUpdate.changes').forEach((change, i) => {
        checkObject(change, `TileUpdate.changes[${i}]`);
        w.u16(change.dx, `TileUpdate.changes[${i}].dx`);
        w.u16(change.dy, `TileUpdate.changes[${i}].dy`);
        w.u8(change.color, `TileUpdate.changes[${i}].color`);
      });
      break;
    case 'PaintResult': {
      w.u32(msg.seq, 'PaintResult.seq');
      const outcome = checkObject(msg.outcome, 'PaintResult.outcome');
      w.variant(PAINT_OUTCOMES, outcome.type, 'PaintOutcome type');
      if (outcome.type === 'Rejected') {
        w.variant(REJECT_REASONS, outcome.reason, 'RejectReason');
        w.u32(outcome.retryAfterMs, 'PaintOutcome.Rejected.retryAfterMs');
      }
      break;
    }
    case 'Error':
      w.variant(ERROR_CODES, msg.code, 'ErrorCode');
      w.string(msg.message, 'Error.message');
      break;
  }
}

/**
 * Decodes every server message in one websocket frame (a frame carries one or more messages
 * back to back). Accepts a Uint8Array, an ArrayBuffer (`ws.binaryType = 'arraybuffer'`) or any
 * ArrayBuffer view. Throws a ProtocolError naming the message and offset on malformed input.
 */
export function decodeServerFrame(bytes) {
  const r = new Reader(bytes);
  const messages = [];
  while (r.remaining > 0) {
    const start = r.pos;
    try {
      messages.push(readServer(r));
    } catch (e) {
      if (e instanceof ProtocolError) {
        throw new ProtocolError(`server message ${messages.length} of the frame (at offset ${start}): ${e.message}`);
      }
      throw e;
    }
  }
  return messages;
}

/**
 * The protocol version a server's first frame announces, read before decoding anything else
 * (docs/protocol.md, section 9): the Welcome's tag (0) and then `protocol_version`, a u16
 * varint. Returns null when the frame does not start with a Welcome. A version-1 server wrote
 * fixed-width integers (`00 00 00 00 01 00`), which read as version 0 here and are reported as 1.
 */
export function welcomeVersion(bytes) {
  const r = new Reader(bytes);
  try {
    if (r.u32('ServerMessage tag') !== 0) return null;
    const version = r.u16('Welcome.protocolVersion');
    // Version 1's tag was 00 00 00 00 and its version 01 00: read here as 0, then 00 00 01 00.
    const [a, b, c, d] = r.bytes.subarray(r.pos, r.pos + 4);
    if (version === 0 && a === 0 && b === 0 && c === 1 && d === 0) return 1;
    return version;
  } catch (e) {
    if (e instanceof ProtocolError) return null;
    throw e;
  }
}

/** Decodes exactly one server message; trailing bytes are an error. */
export function decodeServer(bytes) {
  const r = new Reader(bytes);
  const msg = readServer(r);
  r.end('ServerMessage');
  return msg;
}

/** Encodes one server message (for tests and tools; a client never sends these). */
export function encodeServer(msg) {
  const w = new Writer();
  writeServer(w, msg);
  return w.finish();
}

/** Encodes several server messages back to back, as one frame. */
export function encodeServerFrame(messages) {
  if (!Array.isArray(messages)) throw new TypeError(`messages must be an array, got ${describe(messages)}`);
  const w = new Writer();
  for (const msg of messages) writeServer(w, msg);
  return w.finish();
}
