// On a phone: a tap paints, a one-finger drag pans without painting, a pinch zooms around the
// fingers' centre. Touch input goes through the DevTools protocol as real touch events.

export default async function test(t) {
  const server = await t.server({ TESSERA__BOARDS__0__WIDTH: '512', TESSERA__BOARDS__0__HEIGHT: '512' });
  const page = await t.page('phone', new URL('#main,100,100,6', server.url).href, {
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 3,
    isMobile: true,
    hasTouch: true,
  });
  await t.ready(page);
  const cdp = await page.context().newCDPSession(page);
  const box = await page.locator('[data-testid="board"]').boundingBox();
  const touch = (type, points) =>
    cdp.send('Input.dispatchTouchEvent', {
      type,
      touchPoints: points.map(([x, y], id) => ({ x: box.x + x, y: box.y + y, id })),
    });

  t.at('one-finger drag pans and does not paint');
  const before = await page.evaluate(() => window.tessera.camera);
  await touch('touchStart', [[200, 400]]);
  for (let i = 1; i <= 10; i++) await touch('touchMove', [[200 - i * 12, 400 - i * 6]]);
  await touch('touchEnd', []);
  const panned = await page.evaluate(() => window.tessera.camera);
  const dx = (panned.x - before.x) * panned.scale;
  const dy = (panned.y - before.y) * panned.scale;
  if (Math.abs(dx - 120) > 3 || Math.abs(dy - 60) > 3) {
    throw new Error(`a (-120, -60) px drag moved the view by (${dx}, ${dy}) px`);
  }
  const paintsSent = () => page.socketLog.sent.filter((m) => m.type === 'Paint').length;
  await page.waitForTimeout(300);
  if (paintsSent() !== 0) throw new Error('the drag sent a paint');

  t.at('pinch out zooms in around the fingers');
  const anchor = await page.evaluate(() => window.tessera.camera);
  const mid = [195, 400];
  await touch('touchStart', [[mid[0] - 40, mid[1]], [mid[0] + 40, mid[1]]]);
  for (let i = 1; i <= 10; i++) await touch('touchMove', [[mid[0] - 40 - i * 4, mid[1]], [mid[0] + 40 + i * 4, mid[1]]]);
  await touch('touchEnd', []);
  const pinched = await page.evaluate(() => window.tessera.camera);
  const ratio = pinched.scale / anchor.scale;
  if (Math.abs(ratio - 2) > 0.05) throw new Error(`pinching from 80 to 160 px zoomed by ${ratio}`);
  const boardAtMid = (c) => c.x + (mid[0] - c.screen.width / 2) / c.scale;
  if (Math.abs(boardAtMid(pinched) - boardAtMid(anchor)) > 0.5) {
    throw new Error(`the point under the fingers moved from ${boardAtMid(anchor)} to ${boardAtMid(pinched)}`);
  }
  await page.waitForTimeout(300);
  if (paintsSent() !== 0) throw new Error('the pinch sent a paint');

  t.at('a tap paints the pixel under the finger');
  await t.ready(page);
  const target = await page.evaluate(() => {
    const c = window.tessera.camera;
    return { x: Math.floor(c.x), y: Math.floor(c.y) };
  });
  const point = await page.evaluate(([x, y]) => window.tessera.screenOf(x, y), [target.x, target.y]);
  await page.touchscreen.tap(box.x + point.x, box.y + point.y);
  await page.waitForFunction(() => window.tessera.lastResult !== null);
  const result = await page.evaluate(() => window.tessera.lastResult);
  if (result.outcome.type !== 'Accepted' || result.x !== target.x || result.y !== target.y) {
    throw new Error(`tapping (${target.x}, ${target.y}) gave ${JSON.stringify(result)}`);
  }
  await page.waitForFunction(([x, y, c]) => window.tessera.pixel(x, y) === c, [target.x, target.y, result.color]);
  await t.screenshot('phone', page);
}
