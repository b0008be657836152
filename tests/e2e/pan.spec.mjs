// Panning far drops the tiles left behind and subscribes the new ones, with few SetViewports.
//
// On the default 2048x2048 board (tile size 64) the page opens zoomed in at (100, 100). Four
// mouse drags move the view ~350 board pixels right. Then the first tile is neither subscribed
// nor held, the tiles now in view are, and the server agrees (read from the websocket traffic):
// a paint in the old tile is not sent to the page, a paint in the new view is. At 1x, a fast
// pan across ~24 tile columns sends at most half as many SetViewports (they are debounced).

import { httpPaint } from './harness.mjs';

const SCALE = 8;

export default async function test(t) {
  const server = await t.server();
  const page = await t.page('panner', new URL(`#main,100,100,${SCALE}`, server.url).href);
  t.at('wait for the first view');
  await t.ready(page);
  const first = await page.evaluate(() => ({
    camera: window.tessera.camera,
    subscribed: window.tessera.subscribedTiles,
    level: window.tessera.level,
  }));
  if (first.level !== 0) throw new Error(`zoomed in, the page should be live, not at level ${first.level}`);
  if (Math.abs(first.camera.scale - SCALE) > 1e-6 || Math.abs(first.camera.x - 100) > 1) {
    throw new Error(`the hash did not place the camera: ${JSON.stringify(first.camera)}`);
  }
  if (!first.subscribed.includes('1,1')) throw new Error(`tile 1,1 is not subscribed: ${first.subscribed}`);
  const visibleTiles = Math.ceil(first.camera.screen.width / SCALE / 64 + 1) * Math.ceil(first.camera.screen.height / SCALE / 64 + 1);
  if (first.subscribed.length > (visibleTiles + 4) * 2) {
    throw new Error(`${first.subscribed.length} tiles subscribed for a view of about ${visibleTiles}`);
  }
  await t.screenshot('before', page);
  const viewportsSent = () => page.socketLog.sent.filter((m) => m.type === 'SetViewport').length;
  const sentBefore = viewportsSent();

  t.at('drag the board four times to the left');
  const box = await page.locator('[data-testid="board"]').boundingBox();
  const moves = 4 * 25;
  for (let i = 0; i < 4; i++) {
    await page.mouse.move(box.x + 850, box.y + 300);
    await page.mouse.down();
    await page.mouse.move(box.x + 150, box.y + 300, { steps: 25 });
    await page.mouse.up();
  }
  const camera = await page.evaluate(() => window.tessera.camera);
  if (Math.abs(camera.x - (first.camera.x + (4 * 700) / SCALE)) > 2) {
    throw new Error(`four 700 px drags moved the centre from ${first.camera.x} to ${camera.x}`);
  }

  t.at('wait for the new view');
  await t.ready(page);
  const after = await page.evaluate(() => ({
    subscribed: window.tessera.subscribedTiles,
    held: window.tessera.liveTiles,
  }));
  const newTile = `${Math.floor(camera.x / 64)},${Math.floor(camera.y / 64)}`;
  if (after.subscribed.includes('1,1') || after.held.includes('1,1')) {
    throw new Error(`tile 1,1 is still subscribed or held after panning away: ${after.subscribed}`);
  }
  if (!after.subscribed.includes(newTile) || !after.held.includes(newTile)) {
    throw new Error(`tile ${newTile} under the centre is not subscribed and held: ${after.subscribed}`);
  }
  if (after.held.some((k) => !after.subscribed.includes(k))) {
    throw new Error(`tiles held but not subscribed: ${after.held.filter((k) => !after.subscribed.includes(k))}`);
  }
  const sent = viewportsSent() - sentBefore;
  t.log(`${moves} pointer moves sent ${sent} SetViewports`);
  if (sent < 1) throw new Error('panning far sent no SetViewport');

  t.at('the server no longer sends the old tile, and sends the new one');
  const paintedAt = Date.now();
  await httpPaint(server.url, 'main', 100, 100, 5);
  const [nx, ny] = [Math.floor(camera.x), Math.floor(camera.y)];
  await httpPaint(server.url, 'main', nx, ny, 5);
  await page.waitForFunction(([x, y]) => window.tessera.pixel(x, y) === 5, [nx, ny]);
  const late = page.socketLog.received.filter((m) => m.tx === 1 && m.ty === 1 && m.at >= paintedAt);
  if (late.length) throw new Error(`the server still sent tile 1,1 after the pan: ${JSON.stringify(late[0])}`);
  const old = await page.evaluate(() => ({ pixel: window.tessera.pixel(100, 100), held: window.tessera.liveTiles }));
  if (old.pixel !== null || old.held.includes('1,1')) {
    throw new Error(`the page holds the old tile again: ${JSON.stringify(old)}`);
  }

  t.at('a fast pan across many tiles sends few, debounced SetViewports');
  await page.evaluate(() => window.tessera.look(600, 1024, 1));
  await t.ready(page);
  const viewportsBefore = viewportsSent();
  let crossings = 0;
  for (let i = 0; i < 2; i++) {
    await page.mouse.move(box.x + 900, box.y + 300);
    await page.mouse.down();
    await page.mouse.move(box.x + 100, box.y + 300, { steps: 25 });
    await page.mouse.up();
    crossings += Math.floor(800 / 64);
  }
  await page.waitForFunction(() => window.tessera.complete);
  const fastSent = viewportsSent() - viewportsBefore;
  t.log(`a pan across ~${crossings} tile columns sent ${fastSent} SetViewports`);
  if (fastSent < 1 || fastSent > crossings / 2) {
    throw new Error(`a pan across ~${crossings} tile columns sent ${fastSent} SetViewports`);
  }
  await t.screenshot('after', page);
}
