// Kill and restart the server: the page shows it is offline, reconnects by itself and shows
// the paints made while it was away (its tiles are resynchronised, not patched from stale
// versions), and its identity token survives.
//
// While the page's server is down, a second server process on the same data directory takes a
// paint over HTTP and snapshots it on shutdown; then the first server comes back on its old
// port. The page never saw that paint live: only a resync can show it.

import { httpPaint, waitRendered } from './harness.mjs';

export default async function test(t) {
  const env = { TESSERA__BOARDS__0__WIDTH: '256', TESSERA__BOARDS__0__HEIGHT: '256' };
  const server = await t.server(env);
  const page = await t.page('viewer', server.url);
  await t.ready(page);
  const token = await page.evaluate(() => localStorage.getItem('tessera.token'));
  const board = await page.evaluate(() => window.tessera.board);

  t.at('paint (12, 34) while the page watches');
  await httpPaint(server.url, 'main', 12, 34, 3);
  await page.waitForFunction(() => window.tessera.pixel(12, 34) === 3);

  t.at('stop the server');
  await server.stop();
  // Between retries the badge shows "offline" (and "connecting…" during one).
  await page.waitForFunction(
    () => window.tessera.state === 'closed' && document.querySelector('[data-testid="connection"]').textContent === 'offline',
  );
  await t.screenshot('offline', page);

  t.at('paint (12, 34) and (200, 100) through another server process on the same data');
  await server.start('127.0.0.1:0');
  const away = server.url;
  await httpPaint(away, 'main', 12, 34, 7);
  await httpPaint(away, 'main', 200, 100, 9);
  await server.stop();

  t.at('restart the server on its old port');
  const port = new URL((await page.evaluate(() => location.href))).port;
  await server.start(`127.0.0.1:${port}`);
  t.log(`server back at ${server.url}`);

  t.at('the page reconnects and shows the paints made while it was away');
  await page.waitForFunction(() => window.tessera.state === 'open', null, { timeout: 30_000 });
  await page.waitForFunction(() => window.tessera.pixel(12, 34) === 7 && window.tessera.pixel(200, 100) === 9);
  for (const [x, y, c] of [[12, 34, 7], [200, 100, 9]]) await waitRendered(page, x, y, board.palette[c]);
  const tokenAfter = await page.evaluate(() => localStorage.getItem('tessera.token'));
  if (tokenAfter !== token) throw new Error(`the user token changed from ${token} to ${tokenAfter}`);

  t.at('live updates flow again');
  await httpPaint(server.url, 'main', 13, 34, 11);
  await page.waitForFunction(() => window.tessera.pixel(13, 34) === 11);
  await t.screenshot('reconnected', page);
}
