// The cooldown timer follows the server: after an accepted paint it counts down the board's
// cooldown; a second tab of the same user (same token) that did not know is rejected by the
// server, rolls its optimistic pixel back, names the reason and shows the server's wait.

import { clickPixel, waitRendered } from './harness.mjs';

export default async function test(t) {
  const server = await t.server({
    TESSERA__BOARDS__0__WIDTH: '128',
    TESSERA__BOARDS__0__HEIGHT: '128',
    TESSERA__BOARDS__0__COOLDOWN_SECS: '4',
  });
  const first = await t.page('first-tab', server.url);
  await t.ready(first);
  // Same browser context: same localStorage, so the same user token.
  const second = await first.context().newPage();
  t.pages['second-tab'] = second;
  second.on('pageerror', (e) => t.logs.push(`second-tab uncaught: ${e.message}`));
  await second.goto(server.url);
  await t.ready(second);
  const board = await first.evaluate(() => window.tessera.board);

  t.at('no timer before painting');
  if (!(await first.locator('[data-testid="cooldown"]').isHidden())) throw new Error('a timer shows before any paint');

  t.at('paint in the first tab');
  await clickPixel(first, 10, 10);
  await first.waitForFunction(() => window.tessera.lastResult !== null);
  const accepted = await first.evaluate(() => window.tessera.lastResult);
  if (accepted.outcome.type !== 'Accepted') throw new Error(`first paint: ${JSON.stringify(accepted)}`);

  t.at('the timer appears with the board cooldown');
  const timer = first.locator('[data-testid="cooldown"]');
  await timer.waitFor({ state: 'visible' });
  const text = await timer.textContent();
  if (!/^Next pixel in 0:0[1-4]$/.test(text)) throw new Error(`timer shows "${text}"`);
  await t.screenshot('timer', first);

  t.at('a click during the cooldown sends nothing');
  const paintsSent = () => first.socketLog.sent.filter((m) => m.type === 'Paint').length;
  if (paintsSent() !== 1) throw new Error(`${paintsSent()} Paint messages recorded for one paint`);
  await clickPixel(first, 20, 20);
  await first.waitForTimeout(300);
  if (paintsSent() !== 1) throw new Error('a paint was sent during the cooldown');
  const status = await first.textContent('[data-testid="status"]');
  if (!status.includes('Wait for the timer')) throw new Error(`status during the cooldown: "${status}"`);

  t.at('the other tab is refused by the server and rolls back');
  const background = board.palette[board.background];
  await clickPixel(second, 30, 30);
  await second.waitForFunction(() => window.tessera.lastResult !== null);
  const rejected = await second.evaluate(() => window.tessera.lastResult);
  if (rejected.outcome.type !== 'Rejected' || rejected.outcome.reason !== 'Cooldown') {
    throw new Error(`second tab: ${JSON.stringify(rejected)}`);
  }
  if (!(rejected.outcome.retryAfterMs > 0 && rejected.outcome.retryAfterMs <= 4000)) {
    throw new Error(`retryAfterMs ${rejected.outcome.retryAfterMs}`);
  }
  const rejectedStatus = await second.textContent('[data-testid="status"]');
  if (!rejectedStatus.includes('rejected: cooldown')) throw new Error(`second tab status "${rejectedStatus}"`);
  await waitRendered(second, 30, 30, background);
  await second.locator('[data-testid="cooldown"]').waitFor({ state: 'visible' });
  await t.screenshot('rejected', second);

  t.at('the timer ends and painting works again');
  await timer.waitFor({ state: 'hidden', timeout: 8_000 });
  await clickPixel(first, 40, 40);
  await first.waitForFunction((seq) => window.tessera.lastResult.seq !== seq, accepted.seq);
  const again = await first.evaluate(() => window.tessera.lastResult);
  if (again.outcome.type !== 'Accepted') throw new Error(`paint after the cooldown: ${JSON.stringify(again)}`);
}
