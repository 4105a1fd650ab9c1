// dashboard.test.mjs -- the dashboards in headless Chromium against the real pipeline:
// map markers move, charts update, an alert raises and clears, commands reach devices,
// history answers, and the page survives a hub restart
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { chromium } from 'playwright-core';
import { BUILD, freePort, startBroker, startProc, tmpDir, waitFor } from '../harness/index.mjs';

const CHROMIUM = process.env.TW_CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.TW_SCREENSHOT_DIR || path.join(BUILD, 'Testing', 'web');

// Alerts when a sensor is more than 3 degrees off its setpoint (1 degree of hysteresis).
const INGEST_CONFIG = `
[transform off_setpoint]
plugin = threshold
key = deviation
high = 3
low = -3
hysteresis = 1
name = off_setpoint

[route fleet]
match = veh-*
groups = fleet

[route temperature]
match = temp-*
transforms = off_setpoint
groups = temperature
`;

test('dashboards: fleet map, temperatures, alerts, commands, history, reconnect', { timeout: 200000 }, async (t) => {
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: run scripts/setup (Debian package chromium)`);
  fs.mkdirSync(SHOTS, { recursive: true });
  console.log(`screenshots in ${SHOTS}`);
  const dir = tmpDir(t);
  const broker = await startBroker(t);
  const db = path.join(dir, 'history.db');
  const conf = path.join(dir, 'ingest.ini');
  fs.writeFileSync(conf, INGEST_CONFIG);
  const ingest = startProc(t, 'telewire-ingest', ['--mqtt', broker.uri, '--config', conf, '--history', db]);
  await ingest.waitForLog(/consuming /);

  const hubPort = await freePort();
  const hubArgs = ['--mqtt', broker.uri, '--listen', `127.0.0.1:${hubPort}`, '--history', db,
    '--anonymous-roles', 'webpubsub.joinLeaveGroup,telewire.command'];
  let hub = startProc(t, 'telewire-hub', hubArgs);
  await hub.waitForLog(/listening/i);

  // What devices say and receive, seen on the broker.
  const watcher = await mqtt.connectAsync(broker.url);
  t.after(() => watcher.endAsync());
  const commands = [];
  const latest = new Map();
  watcher.on('message', (topic, p) => {
    const [, id, kind] = topic.split('/');
    try {
      if (kind === 'commands') commands.push({ id, body: JSON.parse(p.toString()) });
      else latest.set(id, JSON.parse(p.toString()));
    } catch { /* malformed telemetry is expected with --bad-ratio */ }
  });
  await watcher.subscribeAsync(['devices/+/commands', 'devices/+/telemetry'], { qos: 1 });

  // temp-0001 (cold room) loses its compressor at start and warms fast.
  const sim = startProc(t, 'telewire-sim', ['--mqtt', broker.uri, '--vehicles', '3', '--sensors', '3',
    '--rate', '4', '--seed', '3', '--fail-sensor', 'temp-0001', '--warm-rate', '120',
    '--failure-rate', '0', '--dropout-rate', '0', '--bad-ratio', '0.02']);

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 1500 } });
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(`http://127.0.0.1:${hubPort}/`) && !r.url().startsWith('blob:')) external.push(r.url()); });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`http://127.0.0.1:${hubPort}/`);
  const state = () => page.locator('#state').getAttribute('data-state');
  await waitFor(async () => (await state()) === 'connected', 15000, 'the page to connect');
  assert.match(await page.locator('#state').textContent(), /connected \((WebSockets|ServerSentEvents|LongPolling)\)/);

  // Markers: one per vehicle, and they move.
  await waitFor(async () => (await page.locator('.vehicle-icon[data-device]').count()) === 3, 15000, '3 vehicle markers');
  const where = () => page.evaluate(() => { const v = window.telewire.fleet.vehicles.get('veh-0001'); const p = v.marker.getLatLng(); return `${p.lat},${p.lon ?? p.lng}`; });
  const first = await where();
  await waitFor(async () => (await where()) !== first, 10000, 'veh-0001 to move on the map');

  // A live chart per zone, updating.
  await waitFor(() => page.locator('.zone[data-zone="cold-1"] canvas').count(), 10000, 'the chart of zone cold-1');
  const points = () => page.evaluate(() => window.telewire.temps.zones.get('cold-1').data[0].length);
  const p0 = await points();
  await waitFor(async () => (await points()) > p0 + 3, 10000, 'the cold-1 chart to get new points');

  // The alert of the failed compressor appears ...
  const alertItem = page.locator('#alerts li[data-device="temp-0001"]');
  await waitFor(() => alertItem.count(), 30000, 'the alert of temp-0001 in the alert list');
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-alert.png'), fullPage: true });

  // ... and clears once the page's reset_fault reaches the sensor.
  await alertItem.locator('button[data-command="reset_fault"]').click();
  await waitFor(() => commands.some((c) => c.id === 'temp-0001' && c.body.command === 'reset_fault'), 5000, 'reset_fault on devices/temp-0001/commands');
  await waitFor(() => latest.get('temp-0001')?.values.fault === false, 5000, 'temp-0001 to report its fault cleared');
  await waitFor(async () => (await alertItem.count()) === 0, 30000, 'the alert of temp-0001 to clear');
  await sim.waitForLog(/command handled for temp-0001: reset_fault/, 5000);

  // go_home from the map: the vehicle's next telemetry says it is returning.
  await page.evaluate(() => window.telewire.fleet.vehicles.get('veh-0002').marker.openPopup());
  await page.locator('.leaflet-popup button[data-command="go_home"]').click();
  await waitFor(async () => /go_home sent to veh-0002/.test(await page.locator('.leaflet-popup .command-result').textContent()), 5000, 'the page to confirm go_home');
  await waitFor(() => ['returning', 'parked'].includes(latest.get('veh-0002')?.values.mode), 5000, 'veh-0002 to head home');
  await waitFor(async () => (await page.locator('.vehicle-icon[data-device="veh-0002"] .arrow').getAttribute('fill')) !== '#1565c0', 5000, 'the marker of veh-0002 to change colour');
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-fleet.png'), fullPage: true });

  // History: rows, a chart and a table; an unknown device says so.
  await page.fill('#history-form input[name=device]', 'temp-0001');
  await page.fill('#history-form input[name=keys]', 'temp,deviation');
  await page.click('#history-form button[type=submit]');
  await waitFor(async () => /\d+ rows for temp-0001/.test(await page.locator('#history-status').textContent()), 10000, 'history rows for temp-0001');
  assert.ok(await page.locator('#history-chart canvas').count() > 0, 'no history chart');
  assert.ok(await page.locator('#history-table tbody tr').count() > 5, 'too few history table rows');
  assert.equal(await page.locator('#csv').isHidden(), false, 'no CSV link');
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-history.png'), fullPage: true });
  await page.fill('#history-form input[name=device]', 'veh-9999');
  await page.click('#history-form button[type=submit]');
  await waitFor(async () => /Unknown device "veh-9999"/.test(await page.locator('#history-status').textContent()), 10000, 'the unknown-device statement');

  // A malformed message from the hub is skipped with a plain statement.
  await watcher.publishAsync('telewire/hub/telemetry/test', JSON.stringify({ target: 'group', name: 'temperature',
    method: 'telemetry', args: [{ oops: 1 }] }), { qos: 1 });
  await waitFor(async () => /Skipped a malformed "telemetry" message from the hub/.test(await page.locator('#notice').textContent()), 5000, 'the malformed-message statement');

  // The hub restarts: reconnecting, then connected again, and data flows.
  await hub.stop();
  await waitFor(async () => ['reconnecting', 'disconnected'].includes(await state()), 15000, 'the page to notice the hub is gone');
  hub = startProc(t, 'telewire-hub', hubArgs);
  await hub.waitForLog(/listening/i);
  await waitFor(async () => (await state()) === 'connected', 30000, 'the page to reconnect');
  const p1 = await points();
  await waitFor(async () => (await points()) !== p1, 10000, 'telemetry after the reconnect');
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-reconnected.png'), fullPage: true });

  assert.deepEqual(external, [], 'the page requested something outside the hub');
  assert.deepEqual(pageErrors, [], 'errors in the page');
});
