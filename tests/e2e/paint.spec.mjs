// A paint made in one browser appears in another; a drag does not paint.
//
// Two browser contexts (two users: separate localStorage) open a 256x256 board. The painter
// zooms in, picks a colour and clicks a pixel: its PaintResult is Accepted, the viewer's copy
// of the tile and its canvas show the colour, and the server's raw tile has it. A press that
// moves (a drag) pans the view and sends no paint.

import { clickPixel, waitRendered } from './harness.mjs';

export default async function test(t) {
  const server = await t.server({ TESSERA__BOARDS__0__WIDTH: '256', TESSERA__BOARDS__0__HEIGHT: '256' });
  const painter = await t.page('painter', server.url);
  const viewer = await t.page('viewer', server.url);
  for (const page of [painter, viewer]) {
    t.at('wait until the page is connected and its view complete');
    await t.ready(page);
  }
  const board = await painter.evaluate(() => window.tessera.board);
  t.log(`board "${board.id}" ${board.width}x${board.height}, tile size ${board.tileSize}`);
  const level = await painter.evaluate(() => window.tessera.level);
  if (level !== 0) throw new Error(`a 256x256 board should be shown live, not at overview level ${level}`);

  const x = 37;
  const y = 23;
  const before = await viewer.evaluate(([px, py]) => window.tessera.pixel(px, py), [x, y]);
  let color = 2 % board.palette.length;
  if (color === before) color = (color + 1) % board.palette.length;

  t.at('zoom in with the + button');
  const zoomBefore = await painter.evaluate(() => window.tessera.zoom);
  await painter.click('[data-testid="zoom-in"]');
  const zoomAfter = await painter.evaluate(() => window.tessera.zoom);
  if (!(zoomAfter > zoomBefore * 1.5)) throw new Error(`zoom went from ${zoomBefore} to ${zoomAfter}`);
  await painter.evaluate(([px, py]) => window.tessera.look(px, py), [x, y]);
  await t.ready(painter);

  t.at(`select colour ${color}`);
  await painter.click(`[data-testid="swatch-${color}"]`);
  const selected = await painter.evaluate(() => window.tessera.selected);
  if (selected !== color) throw new Error(`selected colour is ${selected}, not ${color}`);

  t.at('a drag pans and does not paint');
  const box = await painter.locator('[data-testid="board"]').boundingBox();
  const camBefore = await painter.evaluate(() => window.tessera.camera);
  await painter.mouse.move(box.x + 300, box.y + 300);
  await painter.mouse.down();
  await painter.mouse.move(box.x + 340, box.y + 320, { steps: 5 });
  await painter.mouse.up();
  const camAfter = await painter.evaluate(() => window.tessera.camera);
  const moved = Math.hypot(camAfter.x - camBefore.x, camAfter.y - camBefore.y) * camAfter.scale;
  if (Math.abs(moved - Math.hypot(40, 20)) > 2) throw new Error(`a 40x20 px drag moved the view by ${moved} px`);
  await painter.waitForTimeout(300);
  if (painter.socketLog.sent.some((m) => m.type === 'Paint')) throw new Error('the drag sent a paint');

  t.at(`click pixel (${x}, ${y})`);
  await clickPixel(painter, x, y);
  t.at("wait for the painter's PaintResult");
  await painter.waitForFunction(
    ([px, py]) => window.tessera.lastResult?.x === px && window.tessera.lastResult?.y === py,
    [x, y],
  );
  const result = await painter.evaluate(() => window.tessera.lastResult);
  if (result.outcome.type !== 'Accepted' || result.color !== color) {
    throw new Error(`expected Accepted for colour ${color}, got ${JSON.stringify(result)}`);
  }
  t.log(`painter: paint ${result.seq} of (${x}, ${y}) colour ${color} Accepted`);

  t.at("wait for the viewer's copy of the tile to show the colour");
  await viewer.waitForFunction(([px, py, c]) => window.tessera.pixel(px, py) === c, [x, y, color]);
  t.at("wait for the painter's own TileUpdate");
  await painter.waitForFunction(([px, py, c]) => window.tessera.pixel(px, py) === c, [x, y, color]);

  t.at("check the viewer's canvas renders the colour");
  await waitRendered(viewer, x, y, board.palette[color]);

  t.at('read the pixel back over HTTP');
  const tx = Math.floor(x / board.tileSize);
  const ty = Math.floor(y / board.tileSize);
  const url = new URL(`/api/boards/${board.id}/tiles/${tx}/${ty}`, server.url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  const width = Number(response.headers.get('x-tile-width'));
  const bytes = new Uint8Array(await response.arrayBuffer());
  const stored = bytes[(y - ty * board.tileSize) * width + (x - tx * board.tileSize)];
  if (stored !== color) throw new Error(`GET ${url} has colour ${stored} at (${x}, ${y}), not ${color}`);

  t.at('check the status line');
  const status = await painter.textContent('[data-testid="status"]');
  if (!status.includes('Painted')) throw new Error(`painter status line is "${status}"`);

  t.at('hovering shows the coordinates');
  const point = await painter.evaluate(([px, py]) => window.tessera.screenOf(px, py), [x + 1, y]);
  await painter.mouse.move(box.x + point.x, box.y + point.y);
  const coords = await painter.textContent('[data-testid="coords"]');
  if (coords !== `(${x + 1}, ${y})`) throw new Error(`hovering (${x + 1}, ${y}) shows "${coords}"`);

  await t.screenshot('painter', painter);
  await t.screenshot('viewer', viewer);
}
