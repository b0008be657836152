// Tests assets/protocol.js against the golden vectors that tests/golden_vectors.rs pins from the
// Rust encoder. Run with `node --test tests/js/` (Node.js >= 20); `cargo test` runs it too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = new URL('../../', import.meta.url);
const goldenDir = new URL('tests/golden/', root);

// assets/protocol.js is an ES module with a .js name and no package.json beside it, which Node 20
// would load as CommonJS (browsers load it with <script type="module">). Import a byte-identical
// copy named .mjs instead; once imported, the copy is no longer needed.
const scratch = mkdtempSync(join(tmpdir(), 'tessera-protocol-'));
const copy = join(scratch, 'protocol.mjs');
copyFileSync(new URL('assets/protocol.js', root), copy);
const protocol = await import(pathToFileURL(copy).href).finally(() => rmSync(scratch, { recursive: true, force: true }));
const {
  CLIENT_MESSAGE_TYPES,
  SERVER_MESSAGE_TYPES,
  PAINT_OUTCOMES,
  REJECT_REASONS,
  ERROR_CODES,
  PROTOCOL_VERSION,
  ProtocolError,
  encodeClient,
  decodeClient,
  encodeServer,
  encodeServerFrame,
  decodeServer,
  decodeServerFrame,
  welcomeVersion,
} = protocol;

const manifest = JSON.parse(readFileSync(new URL('manifest.json', goldenDir), 'utf8'));
const vectors = Object.entries(manifest.vectors).map(([name, entry]) => ({ name, ...entry, bytes: readHex(name) }));
const clientVectors = vectors.filter((v) => v.direction === 'client');
const serverVectors = vectors.filter((v) => v.direction === 'server');

function readHex(name) {
  const text = readFileSync(new URL(`${name}.hex`, goldenDir), 'utf8').replace(/\s+/g, '');
  assert.match(text, /^([0-9a-f]{2})*$/, `${name}.hex is lowercase hex`);
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

/** The decoded objects with Uint8Arrays turned into plain arrays, as in the manifest. */
function plain(value) {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

function hex(bytes) {
  return Buffer.from(bytes).toString('hex');
}

test('the golden set has client vectors, server vectors and a multi-message frame', () => {
  assert.ok(clientVectors.length > 0);
  assert.ok(serverVectors.length > 0);
  assert.ok(serverVectors.some((v) => v.messages.length >= 2));
  assert.equal(vectors.length, clientVectors.length + serverVectors.length, 'direction is client or server');
});

test('variant tables match the Rust enums, tag for tag', () => {
  assert.deepEqual(CLIENT_MESSAGE_TYPES, manifest.enums.ClientMessage);
  assert.deepEqual(SERVER_MESSAGE_TYPES, manifest.enums.ServerMessage);
  assert.deepEqual(PAINT_OUTCOMES, manifest.enums.PaintOutcome);
  assert.deepEqual(REJECT_REASONS, manifest.enums.RejectReason);
  assert.deepEqual(ERROR_CODES, manifest.enums.ErrorCode);
});

test('the protocol version matches the Welcome vector', () => {
  const welcome = serverVectors.flatMap((v) => v.messages).find((m) => m.type === 'Welcome');
  assert.equal(welcome.protocolVersion, PROTOCOL_VERSION);
});

for (const v of clientVectors) {
  test(`client vector ${v.name}: encodes to the pinned bytes and decodes back`, () => {
    assert.equal(hex(encodeClient(v.message)), hex(v.bytes));
    assert.deepEqual(decodeClient(v.bytes), v.message);
  });
}

for (const v of serverVectors) {
  test(`server vector ${v.name}: decodes to the manifest and encodes back`, () => {
    const decoded = decodeServerFrame(v.bytes);
    assert.deepEqual(plain(decoded), v.messages);
    for (const msg of decoded) {
      if (msg.type === 'TileState') assert.ok(msg.pixels instanceof Uint8Array, 'pixels is a Uint8Array');
    }
    assert.equal(hex(encodeServerFrame(v.messages)), hex(v.bytes));
    assert.equal(hex(encodeServerFrame(decoded)), hex(v.bytes));
    if (v.messages.length === 1) {
      assert.deepEqual(plain(decodeServer(v.bytes)), v.messages[0]);
      assert.equal(hex(encodeServer(v.messages[0])), hex(v.bytes));
    }
  });
}

test('every strict prefix of a message is refused as truncated', () => {
  for (const v of clientVectors) {
    for (let n = 0; n < v.bytes.length; n++) {
      assert.throws(() => decodeClient(v.bytes.subarray(0, n)), { name: 'ProtocolError', message: /truncated/ }, `${v.name}[..${n}]`);
    }
  }
  for (const v of serverVectors.filter((v) => v.messages.length === 1)) {
    for (let n = 1; n < v.bytes.length; n++) {
      const prefix = v.bytes.subarray(0, n);
      assert.throws(() => decodeServerFrame(prefix), { name: 'ProtocolError', message: /truncated/ }, `${v.name}[..${n}]`);
      assert.throws(() => decodeServer(prefix), ProtocolError, `${v.name}[..${n}]`);
    }
  }
});

test('a frame cut inside its second message names that message', () => {
  const frame = serverVectors.find((v) => v.messages.length >= 2);
  const firstLength = encodeServer(frame.messages[0]).length;
  assert.deepEqual(plain(decodeServerFrame(frame.bytes.subarray(0, firstLength))), [frame.messages[0]]);
  assert.throws(() => decodeServerFrame(frame.bytes.subarray(0, firstLength + 5)), {
    name: 'ProtocolError',
    message: new RegExp(`^server message 1 of the frame \\(at offset ${firstLength}\\): truncated`),
  });
});

test('an empty frame holds no messages, but one message cannot be empty', () => {
  assert.deepEqual(decodeServerFrame(new Uint8Array(0)), []);
  assert.throws(() => decodeServer(new Uint8Array(0)), /truncated/);
});

test('trailing bytes after one message are refused', () => {
  const paint = clientVectors.find((v) => v.message.type === 'Paint');
  assert.throws(() => decodeClient(Uint8Array.of(...paint.bytes, 0)), /1 trailing bytes/);
  const result = serverVectors.find((v) => v.messages.length === 1 && v.messages[0].type === 'PaintResult');
  assert.throws(() => decodeServer(Uint8Array.of(...result.bytes, 0)), /1 trailing bytes/);
  // In a frame, a trailing byte is the start of a message that never ends.
  assert.throws(() => decodeServerFrame(Uint8Array.of(...result.bytes, 0)), /truncated/);
});

test('unknown variants are refused with their tag', () => {
  assert.throws(() => decodeServerFrame(Uint8Array.of(9)), { name: 'ProtocolError', message: /unknown ServerMessage variant 9/ });
  assert.throws(() => decodeClient(Uint8Array.of(2)), /unknown ClientMessage variant 2/);
  // An Error whose code is one past the last known ErrorCode.
  const bad = Uint8Array.of(4, ERROR_CODES.length, 0);
  assert.throws(() => decodeServer(bad), /unknown ErrorCode variant 6/);
  // A tag in the three-byte form is still a tag (bincode reads it so too).
  assert.throws(() => decodeServerFrame(Uint8Array.of(251, 9, 1)), /unknown ServerMessage variant 265/);
});

test('absurd lengths are refused before any allocation', () => {
  // TileUpdate (tag, board, tx, ty, base_version, version, all 0) with 2^62 changes.
  const bytes = new Uint8Array(15);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, SERVER_MESSAGE_TYPES.indexOf('TileUpdate'));
  view.setUint8(6, 253);
  view.setBigUint64(7, 1n << 62n, true);
  assert.throws(() => decodeServer(bytes), /TileUpdate.changes at offset 6 declares 4611686018427387904 items/);
  // Two changes declared, one present.
  assert.throws(() => decodeServer(Uint8Array.of(2, 0, 0, 0, 0, 0, 2, 0, 0, 5)), /declares 2 items/);
});

test('strings must be valid UTF-8 and count bytes, not characters', () => {
  const bytes = encodeServer({ type: 'Error', code: 'Malformed', message: 'é' });
  assert.equal(hex(bytes), '04' + '00' + '02' + 'c3a9');
  bytes[bytes.length - 1] = 0x28;
  assert.throws(() => decodeServer(bytes), /Error.message at offset 3 is not valid UTF-8/);
});

test('TileState pixels must cover width * height', () => {
  const bytes = encodeServer({ type: 'TileState', board: 0, tx: 0, ty: 0, version: 0, width: 2, height: 2, pixels: [1, 2, 3] });
  assert.throws(() => decodeServer(bytes), /holds 3 bytes, not width \* height = 2 \* 2/);
});

test('64-bit integers are Numbers up to 2^53 - 1 and BigInts above', () => {
  const state = (version) => ({ type: 'TileState', board: 0, tx: 0, ty: 0, version, width: 1, height: 1, pixels: new Uint8Array([7]) });
  const safe = decodeServer(encodeServer(state(Number.MAX_SAFE_INTEGER)));
  assert.equal(safe.version, Number.MAX_SAFE_INTEGER);
  const big = decodeServer(encodeServer(state(2n ** 64n - 1n)));
  assert.equal(big.version, 2n ** 64n - 1n);
  assert.equal(decodeServer(encodeServer(state(2n ** 53n))).version, 2n ** 53n);
  assert.throws(() => encodeServer(state(2n ** 64n)), RangeError);
  assert.throws(() => encodeServer(state(2 ** 53)), TypeError, 'unsafe Numbers are refused, not rounded');
});

test('decoding accepts ArrayBuffers and views at an offset', () => {
  const v = serverVectors.find((v) => v.messages.some((m) => m.type === 'Welcome'));
  const padded = new Uint8Array(v.bytes.length + 3);
  padded.set(v.bytes, 3);
  assert.deepEqual(plain(decodeServerFrame(padded.subarray(3))), v.messages);
  assert.deepEqual(plain(decodeServerFrame(new DataView(padded.buffer, 3))), v.messages);
  assert.deepEqual(plain(decodeServerFrame(v.bytes.slice().buffer)), v.messages);
  assert.throws(() => decodeServerFrame('00'), TypeError);
});

test('integers take the shortest varint, and a field refuses a prefix wider than its type', () => {
  const viewport = (x) => hex(encodeClient({ type: 'SetViewport', board: 0, x, y: 0, width: 1, height: 1 }));
  assert.equal(viewport(250), '0000fa000101');
  assert.equal(viewport(251), '0000fbfb00000101');
  assert.equal(viewport(65535), '0000fbffff000101');
  assert.equal(viewport(65536), '0000fc00000100000101');
  assert.equal(viewport(2 ** 32 - 1), '0000fcffffffff000101');
  const state = (version) => hex(encodeServer({ type: 'TileState', board: 0, tx: 0, ty: 0, version, width: 1, height: 1, pixels: [7] }));
  assert.equal(state(2 ** 32), '01000000fd0000000001000000010101' + '07');
  // board is a u16: the u32 prefix is refused, not truncated.
  assert.throws(() => decodeClient(Uint8Array.of(0, 252, 0, 0, 0, 0, 0, 0, 1, 1)), /SetViewport.board at offset 1 starts with 252/);
  // The long form of a small value decodes like the short one.
  assert.deepEqual(decodeClient(Uint8Array.of(0, 251, 3, 0, 0, 0, 1, 1)), { type: 'SetViewport', board: 3, x: 0, y: 0, width: 1, height: 1 });
});

test('welcomeVersion reads the version before anything else, this one and version 1', () => {
  const v = serverVectors.find((v) => v.messages.some((m) => m.type === 'Welcome'));
  assert.equal(welcomeVersion(v.bytes), PROTOCOL_VERSION);
  // A version-1 Welcome started with a u32 tag and a u16 version, fixed-width.
  assert.equal(welcomeVersion(Uint8Array.of(0, 0, 0, 0, 1, 0, 42, 0, 0, 0, 0, 0, 0, 0)), 1);
  assert.equal(welcomeVersion(Uint8Array.of(0, 251, 7, 1)), 263);
  assert.equal(welcomeVersion(Uint8Array.of(3, 7, 0)), null, 'a PaintResult is not a Welcome');
  assert.equal(welcomeVersion(Uint8Array.of(0)), null, 'truncated');
});

test('encodeClient refuses values that do not fit their field', () => {
  const paint = { type: 'Paint', seq: 1, board: 0, x: 0, y: 0, color: 0 };
  assert.equal(encodeClient(paint).length, 6);
  assert.equal(encodeClient({ type: 'SetViewport', board: 0, x: 0, y: 0, width: 0, height: 0 }).length, 6);
  assert.throws(() => encodeClient({ ...paint, board: 65536 }), { name: 'RangeError', message: /Paint.board must be an integer in 0..65535/ });
  assert.throws(() => encodeClient({ ...paint, color: 256 }), /Paint.color/);
  assert.throws(() => encodeClient({ ...paint, x: -1 }), RangeError);
  assert.throws(() => encodeClient({ ...paint, y: 1.5 }), RangeError);
  assert.throws(() => encodeClient({ ...paint, seq: '1' }), TypeError);
  assert.throws(() => encodeClient({ ...paint, seq: undefined }), TypeError);
  assert.throws(() => encodeClient({ type: 'Teleport' }), /unknown ClientMessage type "Teleport"/);
  assert.throws(() => encodeClient(null), TypeError);
});
