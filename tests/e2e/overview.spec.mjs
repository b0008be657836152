// A huge board zoomed out is shown from overview tiles, never from full-resolution ones.
//
// On a 16384x16384 board the page opens showing the whole board: it must request only
// overview tiles (of the level that matches the screen), subscribe to no live tile, and
// download well under 2 MB. A paint block made over HTTP shows up in the zoomed-out view
// within the overview's refresh period. Zooming in there swaps to live full-resolution tiles.

import { httpPaint, renderedAt, waitRendered } from './harness.mjs';

const SIZE = 16384;
/** A block of this many pixels square is one pixel of overview level 4. */
const BLOCK = 16;

export default async function test(t) {
  const server = await t.server({
    TESSERA__BOARDS__0__WIDTH: String(SIZE),
    TESSERA__BOARDS__0__HEIGHT: String(SIZE),
  });
  t.at('open the whole board');
  const page = await t.page('viewer', server.url);
  const { requests, socketLog: socket } = page;
  await t.ready(page);

  const view = await page.evaluate(() => ({
    level: window.tessera.level,
    camera: window.tessera.camera,
    viewport: window.tessera.viewport,
    board: window.tessera.board,
    stats: window.tessera.overviewStats,
  }));
  t.log(`level ${view.level} at scale ${view.camera.scale.toFixed(4)}; overview ${JSON.stringify(view.board.overview)}; ${JSON.stringify(view.stats)}`);
  const expected = Math.floor(Math.log2(1 / view.camera.scale));
  if (view.level !== expected || view.level < 4) {
    throw new Error(`zoomed out to scale ${view.camera.scale} the page shows level ${view.level}, expected ${expected}`);
  }
  if (view.viewport === null || view.viewport.width !== 0) {
    throw new Error(`zoomed out, the page should hold no live subscription, not ${JSON.stringify(view.viewport)}`);
  }
  const viewports = socket.sent.filter((m) => m.type === 'SetViewport');
  if (viewports.length === 0 || viewports.some((v) => v.width !== 0 || v.height !== 0)) {
    throw new Error(`zoomed out, the page sent ${JSON.stringify(viewports)}; only empty viewports are allowed`);
  }
  if (socket.received.some((m) => m.type === 'TileState' || m.type === 'TileUpdate')) {
    throw new Error('zoomed out, the page received live tiles');
  }
  const tileRequests = requests.filter((p) => p.includes('/tiles/'));
  const overviewRequests = requests.filter((p) => p.includes('/overview/'));
  if (tileRequests.length) throw new Error(`full-resolution tiles were requested: ${tileRequests.slice(0, 5)}`);
  const levels = new Set(overviewRequests.map((p) => Number(p.split('/')[5])));
  if (!levels.has(view.level)) throw new Error(`no overview tile of level ${view.level} requested: ${overviewRequests}`);
  if ([...levels].some((l) => l < view.level)) throw new Error(`finer overview levels were requested: ${[...levels]}`);
  if (view.stats.bytes > 2 * 1024 * 1024) throw new Error(`the whole-board view downloaded ${view.stats.bytes} bytes`);
  t.log(`${overviewRequests.length} overview requests, ${view.stats.bytes} bytes of pixels, levels ${[...levels]}`);
  await t.screenshot('zoomed-out', page);

  t.at('a painted block appears in the zoomed-out view');
  const [bx, by] = [8192, 8192];
  const color = 27;
  const board = view.board;
  const paints = [];
  for (let dy = 0; dy < BLOCK; dy++) for (let dx = 0; dx < BLOCK; dx++) paints.push([bx + dx, by + dy]);
  for (let i = 0; i < paints.length; i += 16) {
    await Promise.all(paints.slice(i, i + 16).map(([x, y]) => httpPaint(server.url, 'main', x, y, color)));
  }
  const want = JSON.stringify(board.palette[color]);
  await waitRendered(page, bx + BLOCK / 2, by + BLOCK / 2, board.palette[color], 10_000);

  t.at('zoom in on the block: live tiles replace the overview');
  const liveBefore = requests.length;
  await page.evaluate(([x, y]) => window.tessera.look(x, y, 4), [bx + BLOCK / 2, by + BLOCK / 2]);
  await t.ready(page);
  const zoomed = await page.evaluate(() => ({ level: window.tessera.level, viewport: window.tessera.viewport }));
  if (zoomed.level !== 0 || !(zoomed.viewport.width > 0)) throw new Error(`zoomed in: ${JSON.stringify(zoomed)}`);
  const pixel = await page.evaluate(([x, y]) => window.tessera.pixel(x, y), [bx, by]);
  if (pixel !== color) throw new Error(`live pixel (${bx}, ${by}) is ${pixel}, not ${color}`);
  if (requests.slice(liveBefore).some((p) => p.includes('/tiles/'))) {
    throw new Error('live tiles must come over the websocket, not HTTP');
  }
  const shown = await renderedAt(page, bx, by);
  if (JSON.stringify(shown) !== want) throw new Error(`zoomed in (${bx}, ${by}) renders ${shown}`);
  await t.screenshot('zoomed-in', page);
}
