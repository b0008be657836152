// Shared machinery of the browser tests: start and stop the real server binary, launch
// Debian's Chromium through playwright-core, name each step, and on failure print what the
// pages and the server were doing and save screenshots.

import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

export const STEP_TIMEOUT_MS = 15_000;
const SERVER_START_TIMEOUT_MS = 30_000;
const URL_PREFIX = 'Tessera is running: open ';
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

/** A running tessera binary with its own data directory (kept across restarts). */
export class Server {
  constructor(binary, env, dataDir) {
    this.binary = binary;
    this.env = env;
    this.dataDir = dataDir;
    this.log = [];
    this.process = null;
    this.url = null;
  }

  /** Starts the server (on `listen`, default a free port) and waits for its URL line. */
  async start(listen = '127.0.0.1:0') {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TESSERA__')));
    const child = spawn(this.binary, [], {
      cwd: this.dataDir,
      env: { ...env, TESSERA__SERVER__LISTEN: listen, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process = child;
    createInterface({ input: child.stderr }).on('line', (line) => {
      this.log.push(line);
      if (this.log.length > 400) this.log.shift();
    });
    const lines = createInterface({ input: child.stdout });
    this.url = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the server printed no URL within ${SERVER_START_TIMEOUT_MS} ms`)),
        SERVER_START_TIMEOUT_MS,
      );
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the server exited with ${code} before printing its URL:\n${this.log.join('\n')}`));
      });
      lines.once('line', (line) => {
        clearTimeout(timer);
        if (!line.startsWith(URL_PREFIX)) reject(new Error(`unexpected first line ${JSON.stringify(line)}`));
        else resolve(line.slice(URL_PREFIX.length).trim());
      });
    });
    child.removeAllListeners('exit');
    return this.url;
  }

  get port() {
    return new URL(this.url).port;
  }

  /** SIGTERM (the server snapshots and exits) and waits for the exit. */
  async stop() {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    this.process = null;
  }
}

/** Everything one test uses; `run.mjs` makes one and passes it to the spec. */
export class TestContext {
  constructor({ binary, shotDir, name }) {
    this.binary = binary;
    this.shotDir = shotDir;
    this.name = name;
    this.step = 'starting';
    this.pages = {};
    this.logs = [];
    this.servers = [];
    this.dirs = [];
    this.browser = null;
  }

  log(line) {
    console.log(`[${this.name}] ${line}`);
  }

  /** Names what the test does next, for the failure message. */
  at(step) {
    this.step = step;
  }

  /** A server with `env` settings on a fresh data directory. */
  async server(env = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
    this.dirs.push(dir);
    const server = new Server(this.binary, env, dir);
    this.servers.push(server);
    await server.start();
    this.log(`server ${server.url} (${JSON.stringify(env)})`);
    return server;
  }

  async launch() {
    const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
    this.at(`launch ${executablePath}`);
    this.browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS, timeout: STEP_TIMEOUT_MS });
    this.log(`chromium ${this.browser.version()}`);
    return this.browser;
  }

  /** A page in its own browser context (its own user: own localStorage), opened at `url`;
   *  `page.socketLog` records its websocket traffic and `page.requests` its HTTP paths. */
  async page(name, url, contextOptions = {}) {
    this.at(`open ${url} in context "${name}"`);
    const context = await this.browser.newContext({ viewport: { width: 1000, height: 760 }, ...contextOptions });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    /** What the page sent and received over its websockets, decoded, and the paths it
     *  requested over HTTP. */
    page.socketLog = await recordSocket(page);
    page.requests = [];
    page.on('request', (r) => page.requests.push(new URL(r.url()).pathname));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') this.logs.push(`${name} ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => this.logs.push(`${name} uncaught: ${e.message}`));
    this.pages[name] = page;
    const response = await page.goto(url);
    if (!response?.ok()) throw new Error(`GET ${url} answered ${response?.status()}`);
    return page;
  }

  /** Waits until the page is connected and everything its view needs is on screen. */
  async ready(page) {
    await page.waitForFunction(() => window.tessera?.state === 'open' && window.tessera.complete);
  }

  async screenshot(name, page) {
    mkdirSync(this.shotDir, { recursive: true });
    const path = join(this.shotDir, `${this.name}-${name}.png`);
    await page.screenshot({ path, timeout: 5_000 });
    this.log(`screenshot ${path}`);
    return path;
  }

  /** Fails when a page threw. */
  checkNoErrors() {
    const uncaught = this.logs.filter((l) => l.includes('uncaught'));
    if (uncaught.length) throw new Error(`the page threw:\n  ${uncaught.join('\n  ')}`);
  }

  async report(error) {
    console.error(`\nFAIL ${this.name} at step "${this.step}": ${error.stack || error}`);
    for (const [name, page] of Object.entries(this.pages)) {
      try {
        const info = await page.evaluate(() => ({
          url: location.href,
          connection: document.querySelector('[data-testid="connection"]')?.textContent,
          status: document.querySelector('[data-testid="status"]')?.textContent,
          state: window.tessera?.state,
          level: window.tessera?.level,
          camera: window.tessera?.camera,
          viewport: window.tessera?.viewport,
          tilesLoaded: window.tessera?.tilesLoaded,
          tilesInView: window.tessera?.tilesInView,
          overview: window.tessera?.overviewTiles,
          lastResult: window.tessera?.lastResult,
        }));
        console.error(`page ${name}: ${JSON.stringify(info)}`);
        await this.screenshot(`${name}-failure`, page);
      } catch (e) {
        console.error(`page ${name}: could not inspect (${e.message.split('\n')[0]})`);
      }
    }
    if (this.logs.length) console.error(`browser console:\n  ${this.logs.slice(-60).join('\n  ')}`);
    for (const server of this.servers) {
      if (server.log.length) console.error(`server ${server.url} log (last lines):\n  ${server.log.slice(-30).join('\n  ')}`);
    }
  }

  async close() {
    await this.browser?.close().catch(() => {});
    for (const server of this.servers) await server.stop().catch(() => {});
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** POST a paint over HTTP (as a script would); returns the JSON answer. */
export async function httpPaint(base, board, x, y, color) {
  const response = await fetch(new URL(`/api/boards/${board}/pixels`, base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ x, y, color }),
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`paint (${x}, ${y}) answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

/** The page's own codec (assets/protocol.js), to read the websocket traffic the test sees.
 *  Imported through a .mjs copy: Node would load a .js file outside a module package as
 *  CommonJS. */
let protocol = null;
export function loadProtocol() {
  protocol ??= importProtocol();
  return protocol;
}

async function importProtocol() {
  const scratch = mkdtempSync(join(tmpdir(), 'tessera-e2e-protocol-'));
  const copy = join(scratch, 'protocol.mjs');
  copyFileSync(new URL('../../assets/protocol.js', import.meta.url), copy);
  try {
    return await import(pathToFileURL(copy).href);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Records the page's websocket traffic, decoded: `{sent: [client messages], received: [server
 * messages]}` with `at` (Date.now()) on each. Attach before the page connects.
 */
export async function recordSocket(page) {
  const { decodeClient, decodeServerFrame } = await loadProtocol();
  const log = { sent: [], received: [] };
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => {
      if (typeof f.payload !== 'string') log.sent.push({ ...decodeClient(f.payload), at: Date.now() });
    });
    ws.on('framereceived', (f) => {
      if (typeof f.payload === 'string') return;
      for (const m of decodeServerFrame(f.payload)) log.received.push({ ...m, at: Date.now() });
    });
  });
  return log;
}

/** Clicks (mouse) board pixel (x, y) on the page's canvas, where the page's camera shows it. */
export async function clickPixel(page, x, y) {
  const point = await page.evaluate(([px, py]) => window.tessera.screenOf(px, py), [x, y]);
  const box = await page.locator('[data-testid="board"]').boundingBox();
  await page.mouse.click(box.x + point.x, box.y + point.y);
}

/** Waits until the page's canvas shows `rgb` ([r, g, b]) at board pixel (x, y). */
export async function waitRendered(page, x, y, rgb, timeout = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  let shown = null;
  while (Date.now() < deadline) {
    shown = await renderedAt(page, x, y);
    if (shown.every((c, i) => c === rgb[i])) return;
    await page.waitForTimeout(20);
  }
  throw new Error(`(${x}, ${y}) still renders rgb ${shown}, not ${rgb}, after ${timeout} ms`);
}

/** The RGB the page's canvas shows at board pixel (x, y). */
export async function renderedAt(page, x, y) {
  return page.evaluate(([px, py]) => {
    const canvas = document.querySelector('[data-testid="board"]');
    const p = window.tessera.screenOf(px, py);
    const r = window.devicePixelRatio || 1;
    const data = canvas.getContext('2d').getImageData(Math.floor(p.x * r), Math.floor(p.y * r), 1, 1).data;
    return [data[0], data[1], data[2]];
  }, [x, y]);
}
