// Tests assets/tiles.js: the client's tile copies follow protocol 6.3 (apply an update only on
// top of the version it continues, ignore what the copy already has, detect gaps and hold the
// copy until its fresh state). Run with `node --test tests/js/`; `cargo test` runs it too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// The browser's ImageData, as much of it as tiles.js uses.
globalThis.ImageData ??= class {
  constructor(width, height) {
    this.width = width;
    this.height = height;
    this.data = new Uint8ClampedArray(width * height * 4);
  }
};

// Imported through a .mjs copy: see protocol.test.mjs.
const scratch = mkdtempSync(join(tmpdir(), 'tessera-tiles-'));
const copy = join(scratch, 'tiles.mjs');
copyFileSync(new URL('../../assets/tiles.js', import.meta.url), copy);
const { LiveTiles, OverviewTiles, paletteWords } = await import(pathToFileURL(copy).href).finally(() =>
  rmSync(scratch, { recursive: true, force: true }),
);

const colours = paletteWords([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]]);
const none = () => false;

function state(version, pixels = new Uint8Array(16)) {
  return { type: 'TileState', board: 0, tx: 1, ty: 2, version, width: 4, height: 4, pixels };
}

function update(baseVersion, version, changes) {
  return { type: 'TileUpdate', board: 0, tx: 1, ty: 2, baseVersion, version, changes };
}

test('a state places the tile and colours it', () => {
  const live = new LiveTiles();
  live.awaiting.add('1,2');
  const tile = live.setState(state(5, Uint8Array.from({ length: 16 }, (_, i) => i % 4)), 4, colours);
  assert.equal(tile.x, 4);
  assert.equal(tile.y, 8);
  assert.equal(tile.version, 5);
  assert.equal(tile.words[1], colours[1]);
  assert.equal(live.awaiting.size, 0);
  assert.deepEqual(tile.dirty, { x0: 0, y0: 0, x1: 4, y1: 4 });
});

test('an update continuing the version applies and marks only its pixels dirty', () => {
  const live = new LiveTiles();
  const tile = live.setState(state(5), 4, colours);
  tile.dirty = null;
  assert.equal(live.applyUpdate(update(5, 7, [{ dx: 1, dy: 2, color: 3 }, { dx: 2, dy: 2, color: 1 }]), colours, none), 'applied');
  assert.equal(tile.version, 7);
  assert.equal(tile.pixels[2 * 4 + 1], 3);
  assert.equal(tile.words[2 * 4 + 2], colours[1]);
  assert.deepEqual(tile.dirty, { x0: 1, y0: 2, x1: 3, y1: 3 });
});

test('an update the copy already contains is ignored', () => {
  const live = new LiveTiles();
  const tile = live.setState(state(7), 4, colours);
  assert.equal(live.applyUpdate(update(5, 7, [{ dx: 0, dy: 0, color: 2 }]), colours, none), 'stale');
  assert.equal(tile.pixels[0], 0);
});

test('a gap holds the copy on screen, ignores later updates and waits for a fresh state', () => {
  const live = new LiveTiles();
  const tile = live.setState(state(5), 4, colours);
  assert.equal(live.applyUpdate(update(6, 8, [{ dx: 0, dy: 0, color: 2 }]), colours, none), 'gap');
  assert.ok(tile.stale);
  assert.ok(live.awaiting.has('1,2'));
  assert.equal(live.tiles.get('1,2'), tile, 'still drawn');
  // A second gap while the state is on its way asks for nothing more.
  assert.equal(live.applyUpdate(update(8, 9, [{ dx: 0, dy: 0, color: 2 }]), colours, none), 'stale');
  assert.equal(tile.pixels[0], 0);
  const fresh = live.setState(state(9), 4, colours);
  assert.ok(!fresh.stale);
  assert.equal(live.applyUpdate(update(9, 10, [{ dx: 0, dy: 0, color: 2 }]), colours, none), 'applied');
});

test('an update for a tile we hold no copy of is a gap unless its state is on the way', () => {
  const live = new LiveTiles();
  assert.equal(live.applyUpdate(update(0, 1, []), colours, none), 'gap');
  live.awaiting.add('1,2');
  assert.equal(live.applyUpdate(update(0, 1, []), colours, none), 'stale');
});

test('optimistic pixels are not overwritten by updates they are waiting for', () => {
  const live = new LiveTiles();
  const tile = live.setState(state(1), 4, colours);
  tile.show(3, 3, colours[2]);
  const held = (x, y) => x === 4 + 3 && y === 8 + 3;
  assert.equal(live.applyUpdate(update(1, 2, [{ dx: 3, dy: 3, color: 1 }]), colours, held), 'applied');
  assert.equal(tile.pixels[15], 1, 'the index follows the server');
  assert.equal(tile.words[15], colours[2], 'the screen keeps the optimistic colour');
});

test('retain forgets tiles and pending states outside the new subscription', () => {
  const live = new LiveTiles();
  live.setState(state(1), 4, colours);
  live.awaiting.add('9,9');
  live.retain((key) => key === '9,9');
  assert.equal(live.tiles.size, 0);
  assert.ok(live.awaiting.has('9,9'));
});

test('the overview cache evicts the least recently drawn tiles, never the wanted ones', () => {
  const cache = new OverviewTiles(2);
  for (const [i, usedAt] of [[0, 5], [1, 1], [2, 3]]) cache.put(1, i, 0, { usedAt });
  cache.evict(new Set(['1/1/0']));
  assert.deepEqual([...cache.tiles.keys()].sort(), ['1/0/0', '1/1/0']);
});
