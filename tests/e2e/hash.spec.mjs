// The URL hash holds the view: opening `#main,300,200,6` shows that place, moving the view
// rewrites the hash, and a reload restores the view from it.

export default async function test(t) {
  const server = await t.server();
  const page = await t.page('viewer', new URL('#main,300,200,6', server.url).href);
  await t.ready(page);
  t.at('the hash placed the camera');
  const camera = await page.evaluate(() => window.tessera.camera);
  if (Math.abs(camera.x - 300) > 1 || Math.abs(camera.y - 200) > 1 || Math.abs(camera.scale - 6) > 1e-6) {
    throw new Error(`#main,300,200,6 gave camera ${JSON.stringify(camera)}`);
  }

  t.at('zoom with the wheel and pan with the keyboard');
  const box = await page.locator('[data-testid="board"]').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, -300);
  await page.keyboard.press('ArrowRight');
  // The hash is written once the view rests; first it must change from the opening one.
  await page.waitForFunction(() => location.hash !== '#main,300,200,6');
  await page.waitForFunction(() => {
    const c = window.tessera.camera;
    const [, x, y, z] = location.hash.slice(1).split(',').map(Number);
    return x === Math.floor(c.x) && y === Math.floor(c.y) && Math.abs(z - c.scale) / c.scale < 0.01;
  });
  const moved = await page.evaluate(() => ({ camera: window.tessera.camera, hash: location.hash }));
  if (!(moved.camera.scale > 6)) throw new Error(`wheel up did not zoom in: ${JSON.stringify(moved)}`);
  const [id, hx, hy, hz] = moved.hash.slice(1).split(',');
  if (id !== 'main' || Math.abs(Number(hx) - moved.camera.x) > 1 || Math.abs(Number(hy) - moved.camera.y) > 1 ||
    Math.abs(Number(hz) - moved.camera.scale) / moved.camera.scale > 0.01) {
    throw new Error(`hash ${moved.hash} does not match camera ${JSON.stringify(moved.camera)}`);
  }

  t.at('reload restores the view');
  await page.reload();
  await t.ready(page);
  const restored = await page.evaluate(() => ({ camera: window.tessera.camera, hash: location.hash }));
  if (Math.abs(restored.camera.x - Number(hx)) > 1 || Math.abs(restored.camera.y - Number(hy)) > 1 ||
    Math.abs(restored.camera.scale - Number(hz)) > 1e-6) {
    throw new Error(`after reload camera ${JSON.stringify(restored.camera)}, hash was ${moved.hash}`);
  }
  await t.screenshot('restored', page);
}
