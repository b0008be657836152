// Browser client performance on a 16384x16384 board, in headless Chromium (BENCHMARKS.md,
// "Browser client"):
//
//   cargo build --release && node benches/client_perf.mjs target/release/tessera [runs]
//
// Measures, per run: navigation to the first complete whole-board view and the bytes it took
// (HTTP transfer sizes plus websocket payload), frame times (requestAnimationFrame deltas, and
// the renderer's own draw time) while panning zoomed out and zoomed in, and while 1,000 live
// updates per second land in view; and panning the default 2048x2048 board seen whole (about
// 1,000 live tiles on screen). Prints one JSON object per run and the medians. Needs what
// the browser tests need (Node.js >= 20, Chromium, `npm ci` in tests/e2e).

import { resolve } from 'node:path';
import { TestContext } from '../tests/e2e/harness.mjs';

const SIZE = 16384;
const PAN_MS = 3000;
const UPDATES_PER_S = 1000;
const UPDATES_MS = 5000;

const [binary, runsArg] = process.argv.slice(2);
if (!binary) {
  console.error('usage: node benches/client_perf.mjs <tessera-binary> [runs]');
  process.exit(2);
}
const runs = Number(runsArg ?? 3);

/** Starts collecting requestAnimationFrame deltas in the page. */
async function startFrames(page) {
  await page.evaluate(() => {
    window.tessera.resetRenderStats();
    window.__frames = [];
    let last = performance.now();
    const loop = (now) => {
      window.__frames.push(now - last);
      last = now;
      if (window.__frames) requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  });
}

async function stopFrames(page) {
  return page.evaluate(() => {
    const frames = window.__frames.slice(1);
    window.__frames = null;
    return frames;
  });
}

function pct(values, q) {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? Number(s[Math.min(s.length - 1, Math.floor(q * s.length))].toFixed(1)) : null;
}

function frameStats(frames, render) {
  return {
    frames: frames.length,
    frame_p50_ms: pct(frames, 0.5),
    frame_p95_ms: pct(frames, 0.95),
    frame_max_ms: pct(frames, 1),
    draw_p50_ms: Number(render.drawP50Ms.toFixed(2)),
    draw_p95_ms: Number(render.drawP95Ms.toFixed(2)),
  };
}

/** Drags the mouse back and forth across the board for `ms`, one move per ~16 ms. */
async function pan(page, ms) {
  const box = await page.locator('[data-testid="board"]').boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + 200, y);
  await page.mouse.down();
  const start = Date.now();
  let i = 0;
  while (Date.now() - start < ms) {
    const phase = (i++ % 120) / 120;
    const x = box.x + 200 + 600 * (phase < 0.5 ? phase * 2 : 2 - phase * 2);
    await page.mouse.move(x, y);
    await page.waitForTimeout(16);
  }
  await page.mouse.up();
}

async function run(index) {
  const t = new TestContext({ binary: resolve(binary), shotDir: 'target/client-perf', name: `perf-${index}` });
  try {
    const server = await t.server({ TESSERA__BOARDS__0__WIDTH: String(SIZE), TESSERA__BOARDS__0__HEIGHT: String(SIZE) });
    await t.launch();
    const context = await t.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    t.pages.perf = page;
    await page.goto(server.url);
    await page.waitForFunction(() => window.tessera?.firstFullViewMs !== null, null, { timeout: 30_000 });
    const first = await page.evaluate(() => {
      const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
      return {
        first_view_ms: Math.round(window.tessera.firstFullViewMs),
        http_bytes: entries.reduce((n, e) => n + (e.transferSize || 0), 0),
        socket_bytes: window.tessera.socketBytes,
        level: window.tessera.level,
        overview_requests: window.tessera.overviewStats.requests,
      };
    });

    await startFrames(page);
    await pan(page, PAN_MS);
    const zoomedOutPan = frameStats(await stopFrames(page), await page.evaluate(() => window.tessera.renderStats));

    // Zoom in to 4x at the centre: live tiles.
    await page.evaluate(() => window.tessera.look(8192, 8192, 4));
    await page.waitForFunction(() => window.tessera.complete, null, { timeout: 30_000 });
    await startFrames(page);
    await pan(page, PAN_MS);
    const zoomedInPan = frameStats(await stopFrames(page), await page.evaluate(() => window.tessera.renderStats));

    // 1,000 paints a second on random pixels in view, over HTTP from here.
    await page.evaluate(() => window.tessera.look(8192, 8192, 4));
    await page.waitForFunction(() => window.tessera.complete, null, { timeout: 30_000 });
    const view = await page.evaluate(() => {
      const c = window.tessera.camera;
      return { x: c.x, y: c.y, w: c.screen.width / c.scale, h: c.screen.height / c.scale };
    });
    // The painter is a second page: four raw websockets (each under the server's per-session
    // message limit) sending Paint messages with the page's own codec, evenly paced.
    // Its own context (window): a second tab would hide the viewer, whose frames would then be
    // throttled to one a second.
    const painter = await (await t.browser.newContext()).newPage();
    await painter.goto(server.url);
    await painter.waitForFunction(() => window.tessera?.state === 'open');
    await startFrames(page);
    const handledBefore = await page.evaluate(() => window.tessera.handledFrames);
    const sent = await painter.evaluate(
      async ({ view, rate, ms }) => {
        const { encodeClient } = await import('/protocol.js');
        const sockets = await Promise.all(
          [0, 1, 2, 3].map(
            () =>
              new Promise((resolve, reject) => {
                const ws = new WebSocket(`ws://${location.host}/ws`);
                ws.onopen = () => resolve(ws);
                ws.onerror = reject;
              }),
          ),
        );
        let n = 0;
        const start = performance.now();
        await new Promise((resolve) => {
          const timer = setInterval(() => {
            const due = Math.floor(((performance.now() - start) / 1000) * rate);
            while (n < due) {
              const x = Math.floor(view.x - view.w / 2 + Math.random() * view.w);
              const y = Math.floor(view.y - view.h / 2 + Math.random() * view.h);
              sockets[n % 4].send(encodeClient({ type: 'Paint', seq: n + 1, board: 0, x, y, color: n % 32 }));
              n++;
            }
            if (performance.now() - start >= ms) {
              clearInterval(timer);
              resolve();
            }
          }, 4);
        });
        for (const ws of sockets) ws.close();
        return n;
      },
      { view, rate: UPDATES_PER_S, ms: UPDATES_MS },
    );
    await page.waitForTimeout(200);
    const updates = frameStats(await stopFrames(page), await page.evaluate(() => window.tessera.renderStats));
    updates.paints_per_s = Math.round(sent / (UPDATES_MS / 1000));
    const handledAfter = await page.evaluate(() => window.tessera.handledFrames);
    updates.server_frames_per_s = Math.round((handledAfter.frames - handledBefore.frames) / (UPDATES_MS / 1000));
    // Main-thread share spent decoding and applying the updates (ms per second of wall time).
    updates.apply_ms_per_s = Number(((handledAfter.ms - handledBefore.ms) / (UPDATES_MS / 1000)).toFixed(2));

    // The default 2048x2048 board seen whole: ~1,000 live tiles drawn per frame.
    const small = await t.server();
    const page2 = await (await t.browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await page2.goto(small.url);
    await page2.waitForFunction(() => window.tessera?.state === 'open' && window.tessera.complete, null, { timeout: 30_000 });
    const wholeLive = await page2.evaluate(() => ({ level: window.tessera.level, tiles: window.tessera.tilesInView }));
    await startFrames(page2);
    await pan(page2, PAN_MS);
    const wholeLivePan = {
      ...wholeLive,
      ...frameStats(await stopFrames(page2), await page2.evaluate(() => window.tessera.renderStats)),
    };
    const result = {
      run: index,
      ...first,
      pan_zoomed_out: zoomedOutPan,
      pan_zoomed_in_4x: zoomedInPan,
      live_updates: updates,
      pan_whole_2048_live: wholeLivePan,
    };
    console.log(JSON.stringify(result));
    return result;
  } catch (e) {
    await t.report(e);
    throw e;
  } finally {
    await t.close();
  }
}

const results = [];
for (let i = 1; i <= runs; i++) results.push(await run(i));
const median = (f) => pct(results.map(f), 0.5);
console.log(
  JSON.stringify({
    runs,
    median_first_view_ms: median((r) => r.first_view_ms),
    median_bytes: median((r) => r.http_bytes + r.socket_bytes),
    median_pan_out_p95_ms: median((r) => r.pan_zoomed_out.frame_p95_ms),
    median_pan_in_p95_ms: median((r) => r.pan_zoomed_in_4x.frame_p95_ms),
    median_updates_p95_ms: median((r) => r.live_updates.frame_p95_ms),
    median_updates_draw_p95_ms: median((r) => r.live_updates.draw_p95_ms),
    median_pan_whole_2048_p95_ms: median((r) => r.pan_whole_2048_live.frame_p95_ms),
  }),
);
