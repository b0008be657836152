// Tests assets/camera.js: the view maths of the browser client (screen/board mapping, zoom
// around a point, which tiles and which overview level a view needs, the URL hash). Run with
// `node --test tests/js/`; `cargo test` runs it too (tests/golden_vectors.rs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// Imported through a .mjs copy: see protocol.test.mjs.
const scratch = mkdtempSync(join(tmpdir(), 'tessera-camera-'));
const copy = join(scratch, 'camera.mjs');
copyFileSync(new URL('../../assets/camera.js', import.meta.url), copy);
const camera = await import(pathToFileURL(copy).href).finally(() => rmSync(scratch, { recursive: true, force: true }));
const { Camera, MAX_SCALE, cellRange, chooseLevel, clipRect, containsRect, formatHash, parseHash, tileAlignedRect } = camera;

const board = { width: 2048, height: 1024 };

test('a new camera shows the whole board, centred', () => {
  const c = new Camera(board, { width: 1000, height: 800 });
  assert.equal(c.x, 1024);
  assert.equal(c.y, 512);
  assert.ok(c.scale * board.width <= 1000 && c.scale * board.width > 900, `scale ${c.scale}`);
  const r = c.visibleRect();
  assert.deepEqual(r, { x: 0, y: 0, width: 2048, height: 1024 });
});

test('screen and board coordinates invert each other', () => {
  const c = new Camera(board, { width: 1000, height: 800 });
  c.set(300.5, 200.25, 7);
  for (const [sx, sy] of [[0, 0], [500, 400], [999, 1], [123.5, 777]]) {
    const b = c.toBoard(sx, sy);
    const s = c.toScreen(b.x, b.y);
    assert.ok(Math.abs(s.x - sx) < 1e-9 && Math.abs(s.y - sy) < 1e-9);
  }
  assert.deepEqual(c.pixelAt(500, 400), { x: 300, y: 200 });
  assert.deepEqual(c.pixelAt(500 + 7, 400), { x: 301, y: 200 });
  c.set(0, 0, 4);
  assert.equal(c.pixelAt(0, 0), null, 'left of and above the board');
});

test('zooming keeps the board point under the cursor in place', () => {
  const c = new Camera(board, { width: 1000, height: 800 });
  c.set(500, 500, 2);
  const before = c.toBoard(100, 700);
  c.zoomAt(100, 700, 9);
  const after = c.toBoard(100, 700);
  assert.equal(c.scale, 9);
  assert.ok(Math.abs(before.x - after.x) < 1e-9 && Math.abs(before.y - after.y) < 1e-9);
});

test('scale and centre stay in range', () => {
  const c = new Camera(board, { width: 1000, height: 800 });
  c.set(-50, 5000, 1000);
  assert.equal(c.scale, MAX_SCALE);
  assert.equal(c.x, 0);
  assert.equal(c.y, board.height);
  c.zoomAt(0, 0, 1e-9);
  assert.equal(c.scale, c.minScale());
  c.set(NaN, Infinity, NaN);
  assert.ok(Number.isFinite(c.x) && Number.isFinite(c.y) && Number.isFinite(c.scale));
});

test('panning moves the board with the pointer', () => {
  const c = new Camera(board, { width: 1000, height: 800 });
  c.set(1000, 500, 4);
  c.panBy(40, -8);
  assert.equal(c.x, 990);
  assert.equal(c.y, 502);
});

test('rectangles: clipping, tile ranges, tile alignment with a margin, containment', () => {
  assert.deepEqual(clipRect({ x: -10, y: 5, width: 30, height: 2000 }, board), { x: 0, y: 5, width: 20, height: 1019 });
  assert.deepEqual(clipRect({ x: 3000, y: 0, width: 5, height: 5 }, board).width, 0);
  assert.deepEqual(cellRange({ x: 63, y: 64, width: 2, height: 64 }, 64), { x0: 0, y0: 1, x1: 2, y1: 2 });
  assert.deepEqual(cellRange({ x: 0, y: 0, width: 0, height: 5 }, 64), { x0: 0, y0: 0, x1: 0, y1: 0 });
  assert.deepEqual(tileAlignedRect({ x: 70, y: 10, width: 10, height: 10 }, 64, 0, board), { x: 64, y: 0, width: 64, height: 64 });
  assert.deepEqual(tileAlignedRect({ x: 70, y: 10, width: 10, height: 10 }, 64, 1, board), { x: 0, y: 0, width: 192, height: 128 });
  assert.deepEqual(tileAlignedRect({ x: 2040, y: 1000, width: 8, height: 24 }, 64, 1, board), { x: 1920, y: 896, width: 128, height: 128 });
  assert.ok(containsRect({ x: 0, y: 0, width: 128, height: 128 }, { x: 64, y: 64, width: 64, height: 64 }));
  assert.ok(!containsRect({ x: 0, y: 0, width: 128, height: 128 }, { x: 64, y: 64, width: 65, height: 64 }));
  assert.ok(!containsRect(null, { x: 0, y: 0, width: 1, height: 1 }));
  assert.ok(containsRect(null, { x: 0, y: 0, width: 0, height: 0 }));
});

test('live tiles close up, overview levels that match the screen further out', () => {
  const max = 4 * 1024 * 1024;
  assert.equal(chooseLevel(8, 1000 * 1000, max, 6), 0);
  assert.equal(chooseLevel(0.3, 3000 * 1000, max, 6), 0, 'a 2048 board at 0.3x is still live');
  assert.equal(chooseLevel(0.3, 5000 * 5000, max, 6), 1, 'too many live pixels: overview');
  assert.equal(chooseLevel(0.2, 100, max, 6), 2, 'below the live scale: 2^2 <= 1/0.2');
  assert.equal(chooseLevel(1 / 16, 1e9, max, 6), 4);
  assert.equal(chooseLevel(0.061, 1e9, max, 6), 4, '16384 px in 1000 px');
  assert.equal(chooseLevel(0.001, 1e9, max, 6), 6, 'never above the top level');
  assert.equal(chooseLevel(0.9, 1e12, max, 6), 1, 'never below level 1 when not live');
  assert.equal(chooseLevel(0.22, 100, max, 6, 0), 0, 'a live view stays live a little further out');
  assert.equal(chooseLevel(0.22, 100, max, 6, 2), 2, 'an overview turns live only at the threshold');
  assert.equal(chooseLevel(0.19, 100, max, 6, 0), 2, 'and not much further');
});

test('the URL hash round-trips a view', () => {
  assert.equal(formatHash('main', 1024.7, 768.2, 8), 'main,1024,768,8');
  assert.equal(formatHash('main', 0, 0, 0.0612345), 'main,0,0,0.0612');
  assert.equal(formatHash('b-2', 5, 6, 12.345), 'b-2,5,6,12.3');
  assert.deepEqual(parseHash('#main,1024,768,8'), { board: 'main', x: 1024, y: 768, scale: 8 });
  assert.deepEqual(parseHash('#main'), { board: 'main', x: null, y: null, scale: null });
  assert.deepEqual(parseHash(''), { board: null, x: null, y: null, scale: null });
  assert.deepEqual(parseHash('#,10,20'), { board: null, x: 10, y: 20, scale: null });
  assert.deepEqual(parseHash('#Main!,x,1,-3'), { board: null, x: null, y: null, scale: null });
  assert.deepEqual(parseHash('#main,1,2,0'), { board: 'main', x: 1, y: 2, scale: null });
});
