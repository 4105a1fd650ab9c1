// pipeline.mjs -- the real pipeline behind the dashboards (mosquitto, ingest with
// history, the hub serving web/, the simulator) and headless Chromium on the page,
// for the browser test and the frame-time measurement
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { BUILD, freePort, startBroker, startProc, waitFor } from '../harness/index.mjs';

export const CHROMIUM = process.env.TW_CHROMIUM || '/usr/bin/chromium';
export const SHOTS = process.env.TW_SCREENSHOT_DIR || path.join(BUILD, 'Testing', 'web');

/**
 * What node:test's `t` gives the harness (`after`), for scripts that run
 * outside the test runner: close() runs the cleanups, last registered first.
 */
export function scope() {
  const fns = [];
  return {
    after: (fn) => fns.push(fn),
    async close() {
      while (fns.length) {
        try { await fns.pop()(); } catch { /* keep stopping the rest */ }
      }
    },
  };
}

/**
 * Starts mosquitto, ingest (with `ingestConfig` and a history file) and the
 * hub serving the page. Returns {broker, ingest, hub, hubPort, url, db, dir,
 * restartHub(), stopHub()}; everything stops when `t` ends.
 */
export async function startPipeline(t, { ingestConfig, hubArgs = [] } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'telewire-web-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const broker = await startBroker(t);
  const db = path.join(dir, 'history.db');
  const conf = path.join(dir, 'ingest.ini');
  fs.writeFileSync(conf, ingestConfig);
  const ingest = startProc(t, 'telewire-ingest', ['--mqtt', broker.uri, '--config', conf, '--history', db]);
  await ingest.waitForLog(/consuming /, 15000);

  const hubPort = await freePort();
  const args = ['--mqtt', broker.uri, '--listen', `127.0.0.1:${hubPort}`, '--history', db,
    '--anonymous-roles', 'webpubsub.joinLeaveGroup,telewire.command', ...hubArgs];
  const p = {
    broker, ingest, hubPort, db, dir, url: `http://127.0.0.1:${hubPort}/`,
    hub: startProc(t, 'telewire-hub', args),
    async stopHub() { await p.hub.stop(); },
    async restartHub() {
      p.hub = startProc(t, 'telewire-hub', args);
      await p.hub.waitForLog(/listening/i, 15000);
    },
  };
  await p.hub.waitForLog(/listening/i, 15000);
  return p;
}

/** telewire-sim on the pipeline's broker with `args`. */
export function startSim(t, pipeline, args) {
  return startProc(t, 'telewire-sim', ['--mqtt', pipeline.broker.uri, ...args]);
}

/** Headless Chromium (Debian's), closed when `t` ends. */
export async function launchBrowser(t, args = []) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup (Debian package chromium)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', ...args] });
  t.after(() => browser.close());
  return browser;
}

/**
 * Opens the page of the pipeline's hub (`query`: e.g. "?transport=sse") and
 * waits until it says it is connected. Returns {page, external, pageErrors,
 * state()}: requests that left the hub and errors thrown in the page are
 * collected for the caller to assert on.
 */
export async function openPage(browser, pipeline, { query = '', viewport = { width: 1400, height: 1500 }, init } = {}) {
  const page = await browser.newPage({ viewport });
  const external = [];
  const pageErrors = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(pipeline.url) && !r.url().startsWith('blob:')) external.push(r.url());
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  if (init) await page.addInitScript(init);
  await page.goto(`${pipeline.url}${query}`);
  const state = () => page.locator('#state').getAttribute('data-state');
  await waitFor(async () => (await state()) === 'connected', 20000, `the page${query ? ` (${query})` : ''} to connect`);
  return { page, external, pageErrors, state };
}
