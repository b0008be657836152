// End-to-end test of the page at GET /: a paint made in one browser appears in another.
//
//   node tests/e2e/paint.spec.mjs <base-url> <screenshot-dir>
//
// Drives Debian's Chromium (CHROMIUM, default /usr/bin/chromium) through playwright-core; no
// browser is downloaded. Two browser contexts (two users, separate localStorage) open the page;
// A picks a colour and clicks a pixel; A must get PaintResult Accepted, B's copy of the tile
// must show the colour, B's canvas must render it, and GET /api/boards/<id>/tiles/<tx>/<ty> must
// return it. Exits 0 on success, 1 with a message naming the failed step otherwise.
// tests/browser.rs runs it against a freshly started server.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const OVERALL_TIMEOUT_MS = 60_000;
const STEP_TIMEOUT_MS = 15_000;
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const [baseArg, shotArg] = process.argv.slice(2);
if (!baseArg || !shotArg) {
  console.error('usage: node tests/e2e/paint.spec.mjs <base-url> <screenshot-dir>');
  process.exit(2);
}
const base = new URL(baseArg);
const shotDir = resolve(shotArg);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

let browser = null;
const pages = {};
const logs = [];
let step = 'starting';

function log(line) {
  console.log(`[e2e] ${line}`);
}

async function fail(message) {
  console.error(`\nFAIL at step "${step}": ${message}`);
  for (const [name, page] of Object.entries(pages)) {
    try {
      const info = await page.evaluate(() => ({
        connection: document.querySelector('[data-testid="connection"]')?.textContent,
        status: document.querySelector('[data-testid="status"]')?.textContent,
        state: window.tessera?.state,
        tilesLoaded: window.tessera?.tilesLoaded,
        tilesInView: window.tessera?.tilesInView,
        lastResult: window.tessera?.lastResult,
      }));
      console.error(`page ${name}: ${JSON.stringify(info)}`);
      mkdirSync(shotDir, { recursive: true });
      await page.screenshot({ path: join(shotDir, `${name}-failure.png`), timeout: 5_000 });
      console.error(`page ${name}: screenshot ${join(shotDir, `${name}-failure.png`)}`);
    } catch (e) {
      console.error(`page ${name}: could not inspect (${e.message.split('\n')[0]})`);
    }
  }
  if (logs.length) console.error(`browser console:\n  ${logs.join('\n  ')}`);
  await browser?.close().catch(() => {});
  process.exit(1);
}

const overall = setTimeout(() => {
  fail(`the whole test took more than ${OVERALL_TIMEOUT_MS / 1000} s`);
}, OVERALL_TIMEOUT_MS);

async function run() {
  step = `launch ${executablePath}`;
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: STEP_TIMEOUT_MS,
  });
  log(`chromium ${browser.version()}`);

  for (const name of ['painter', 'viewer']) {
    step = `open ${base} in context "${name}"`;
    const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') logs.push(`${name} ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => logs.push(`${name} uncaught: ${e.message}`));
    pages[name] = page;
    const response = await page.goto(base.href);
    if (!response?.ok()) throw new Error(`GET ${base} answered ${response?.status()}`);
  }
  const { painter, viewer } = pages;

  for (const [name, page] of Object.entries(pages)) {
    step = `wait until "${name}" is connected and holds every tile in view`;
    await page.waitForFunction(
      () => window.tessera?.state === 'open' && window.tessera.tilesInView > 0 && window.tessera.tilesLoaded === window.tessera.tilesInView,
    );
  }
  const board = await painter.evaluate(() => window.tessera.board);
  const view = await painter.evaluate(() => window.tessera.viewport);
  log(`board "${board.id}" ${board.width}x${board.height}, tile size ${board.tileSize}, viewport ${JSON.stringify(view)}`);

  // A pixel in the upper-left part of the view (visible without scrolling at any zoom) and a
  // colour it does not have yet, so the change is observable even on a reused server.
  const x = view.x + Math.min(view.width - 1, 37);
  const y = view.y + Math.min(view.height - 1, 23);
  const before = await viewer.evaluate(([px, py]) => window.tessera.pixel(px, py), [x, y]);
  let color = 2 % board.palette.length;
  if (color === before) color = (color + 1) % board.palette.length;

  step = 'zoom in once in the painter';
  const zoomBefore = await painter.evaluate(() => window.tessera.zoom);
  await painter.click('[data-testid="zoom-in"]');
  const zoomAfter = await painter.evaluate(() => window.tessera.zoom);
  if (zoomAfter !== zoomBefore + 1) throw new Error(`zoom went from ${zoomBefore} to ${zoomAfter}`);

  step = `select colour ${color} in the painter`;
  await painter.click(`[data-testid="swatch-${color}"]`);
  const selected = await painter.evaluate(() => window.tessera.selected);
  if (selected !== color) throw new Error(`selected colour is ${selected}, not ${color}`);

  step = `click pixel (${x}, ${y}) in the painter`;
  const canvas = painter.locator('[data-testid="board"]');
  await canvas.scrollIntoViewIfNeeded();
  const box = await canvas.boundingBox();
  await canvas.click({
    position: {
      x: ((x - view.x + 0.5) * box.width) / view.width,
      y: ((y - view.y + 0.5) * box.height) / view.height,
    },
  });

  step = 'wait for the painter\'s PaintResult';
  await painter.waitForFunction(
    ([px, py]) => window.tessera.lastResult?.x === px && window.tessera.lastResult?.y === py,
    [x, y],
  );
  const result = await painter.evaluate(() => window.tessera.lastResult);
  if (result.outcome.type !== 'Accepted' || result.color !== color) {
    throw new Error(`expected Accepted for colour ${color}, got ${JSON.stringify(result)}`);
  }
  log(`painter: paint ${result.seq} of (${x}, ${y}) colour ${color} Accepted`);

  step = 'wait for the viewer\'s copy of the tile to show the colour';
  await viewer.waitForFunction(([px, py, c]) => window.tessera.pixel(px, py) === c, [x, y, color]);
  step = 'wait for the painter\'s copy (its own TileUpdate) to show the colour';
  await painter.waitForFunction(([px, py, c]) => window.tessera.pixel(px, py) === c, [x, y, color]);

  step = 'check the viewer\'s canvas renders the colour';
  const rendered = await viewer.evaluate(([px, py]) => {
    const el = document.querySelector('[data-testid="board"]');
    const v = window.tessera.viewport;
    return Array.from(el.getContext('2d').getImageData(px - v.x, py - v.y, 1, 1).data.slice(0, 3));
  }, [x, y]);
  if (JSON.stringify(rendered) !== JSON.stringify(board.palette[color])) {
    throw new Error(`canvas pixel is rgb ${rendered}, palette colour ${color} is rgb ${board.palette[color]}`);
  }

  step = 'read the pixel back over HTTP';
  const tx = Math.floor(x / board.tileSize);
  const ty = Math.floor(y / board.tileSize);
  const url = new URL(`/api/boards/${board.id}/tiles/${tx}/${ty}`, base);
  const response = await fetch(url, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  const tileWidth = Number(response.headers.get('x-tile-width'));
  const bytes = new Uint8Array(await response.arrayBuffer());
  const stored = bytes[(y - ty * board.tileSize) * tileWidth + (x - tx * board.tileSize)];
  if (stored !== color) throw new Error(`GET ${url} has colour ${stored} at (${x}, ${y}), not ${color}`);
  log(`HTTP tile (${tx}, ${ty}) has colour ${color} at (${x}, ${y})`);

  step = 'check the status lines';
  const status = await painter.textContent('[data-testid="status"]');
  if (!status.includes('Painted')) throw new Error(`painter status line is "${status}"`);
  const connection = await viewer.textContent('[data-testid="connection"]');
  log(`painter status "${status}", viewer connection "${connection}"`);

  step = 'save screenshots';
  mkdirSync(shotDir, { recursive: true });
  for (const [name, page] of Object.entries(pages)) {
    // Zooming keeps the centre in place; show the corner where the pixel is.
    await page.evaluate(() => document.querySelector('[data-testid="board"]').parentElement.scrollTo(0, 0));
    const path = join(shotDir, `${name}.png`);
    await page.screenshot({ path });
    log(`screenshot ${path}`);
  }

  const uncaught = logs.filter((l) => l.includes('uncaught'));
  if (uncaught.length) throw new Error(`the page threw:\n  ${uncaught.join('\n  ')}`);

  await browser.close();
  clearTimeout(overall);
  log('PASS: a paint in one browser appeared in the other');
}

run().catch((e) => fail(e.message));
