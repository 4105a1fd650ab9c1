// dashboard.test.mjs -- the dashboards in headless Chromium against the real pipeline:
// vehicles drawn and moving, charts update, an alert raises and clears, commands reach
// devices (a setpoint changes a sensor's temperature; a bad one is refused on the page),
// geofence events, history answers, every transport, and the page survives a hub restart
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { ROOT, waitFor } from '../harness/index.mjs';
import { SHOTS, launchBrowser, openPage, startPipeline, startSim } from './pipeline.mjs';

// The demo's configuration (scripts/demo-ingest.ini): alerts when a sensor is
// more than 3 degrees off its setpoint (1 degree of hysteresis), a hot engine
// or an almost empty tank, and the geofence zone around the depot.
const INGEST_CONFIG = fs.readFileSync(path.join(ROOT, 'scripts', 'demo-ingest.ini'), 'utf8');
const DEPOT = { lat: 52.365, lon: 4.900 };   // the middle of its zone
assert.match(INGEST_CONFIG, /\[transform depot\]\s*\nplugin = geofence/, 'no depot zone in scripts/demo-ingest.ini');

test('dashboards: fleet map, temperatures, alerts, commands, geofence, history, transports, reconnect', { timeout: 200000 }, async (t) => {
  fs.mkdirSync(SHOTS, { recursive: true });
  console.log(`screenshots in ${SHOTS}`);
  const pipeline = await startPipeline(t, { ingestConfig: INGEST_CONFIG });

  // What devices say and receive, seen on the broker.
  const watcher = await mqtt.connectAsync(pipeline.broker.url);
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
  const sim = startSim(t, pipeline, ['--vehicles', '3', '--sensors', '3',
    '--rate', '4', '--seed', '3', '--fail-sensor', 'temp-0001', '--warm-rate', '120',
    '--failure-rate', '0', '--dropout-rate', '0', '--bad-ratio', '0.02']);

  const browser = await launchBrowser(t);
  const { page, external, pageErrors, state } = await openPage(browser, pipeline);
  assert.match(await page.locator('#state').textContent(), /connected \((WebSockets|ServerSentEvents|LongPolling)\)/);

  // Vehicles: one per simulated vehicle, drawn on the map's canvas, and they move.
  const where = (p, id) => p.evaluate((d) => window.telewire.fleet.where(d), id);
  await waitFor(async () => (await page.evaluate(() => window.telewire.fleet.vehicles.size)) === 3, 15000, '3 vehicles on the map');
  await waitFor(async () => Number.isFinite((await where(page, 'veh-0001'))?.x), 5000, 'veh-0001 to be drawn');
  const first = await where(page, 'veh-0001');
  await waitFor(async () => { const w = await where(page, 'veh-0001'); return w.lat !== first.lat || w.lon !== first.lon; }, 10000, 'veh-0001 to move on the map');
  const painted = await page.evaluate(() => {
    const { x, y } = window.telewire.fleet.where('veh-0001');
    const c = document.querySelector('canvas.vehicle-layer'), dpr = window.devicePixelRatio || 1;
    const px = c.getContext('2d').getImageData(Math.round((x - 6) * dpr), Math.round((y - 6) * dpr), Math.round(12 * dpr), Math.round(12 * dpr)).data;
    let n = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
    return n;
  });
  assert.ok(painted > 10, `the arrow of veh-0001 is not on the canvas (${painted} pixels)`);

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

  // A setpoint from the page (its prompt answered): the sensor takes it and its
  // temperature heads for it. A sensor other than temp-0001, whose room is sound.
  const sensorId = await waitFor(() => [...latest.keys()].find((id) => id.startsWith('temp-') && id !== 'temp-0001'), 5000, 'a second sensor');
  const before = latest.get(sensorId).values;
  const target = Math.round(before.setpoint) + 10;
  const setButton = page.locator(`.zone tr[data-device="${sensorId}"] button[data-command="set_setpoint"]`);
  const dialogs = [];
  const answerNext = (text) => page.once('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    d.accept(text).catch(() => { /* the page went on */ });
  });
  answerNext(String(target));
  await setButton.click();
  await waitFor(() => commands.some((c) => c.id === sensorId && c.body.command === 'set_setpoint' && c.body.args?.setpoint === target), 5000, `set_setpoint ${target} on devices/${sensorId}/commands`);
  assert.match(dialogs[0], new RegExp(`^prompt: New setpoint of ${sensorId} in °C`));
  await sim.waitForLog(new RegExp(`command handled for ${sensorId}: set_setpoint: [-\\d.]+ -> ${target}\\.0`), 5000);
  await waitFor(() => latest.get(sensorId)?.values.setpoint === target, 5000, `${sensorId} to report setpoint ${target}`);
  await waitFor(() => latest.get(sensorId).values.temp > before.temp + 5, 20000, `the temperature of ${sensorId} to rise toward ${target} from ${before.temp}`);
  await waitFor(async () => new RegExp(`set ${target}\\.0`).test(await page.locator(`.zone tr[data-device="${sensorId}"]`).textContent()), 5000, 'the page to show the new setpoint');

  // A setpoint that is not a number, and one out of range, are refused on the
  // page with a plain statement; nothing reaches the device.
  const sent = commands.length;
  answerNext('warm');
  await setButton.click();
  await waitFor(async () => /"warm" is not a number of degrees/.test(await page.locator('#notice').textContent()), 5000, 'the not-a-number statement');
  answerNext('99');
  await setButton.click();
  await waitFor(async () => /99 °C is out of range/.test(await page.locator('#notice').textContent()), 5000, 'the out-of-range statement');
  assert.equal(await page.locator('#notice').isVisible(), true);
  await waitFor(async () => /-40 to 40/.test(await page.locator('#notice').textContent()), 1000, 'the range in the statement');
  assert.equal(dialogs.length, 3, 'a prompt per click on set…');
  assert.equal(commands.length, sent, 'a refused setpoint reached the device');

  // go_home from the map: a click on the vehicle's arrow opens its details;
  // the vehicle's next telemetry says it is returning.
  const mapBox = await page.locator('#map').boundingBox();
  const v2 = await where(page, 'veh-0002');
  await page.mouse.click(mapBox.x + v2.x, mapBox.y + v2.y);
  const popup = page.locator('.leaflet-popup .popup[data-device="veh-0002"]');
  await waitFor(() => popup.count(), 5000, 'the details of veh-0002 after a click on its arrow');
  await popup.locator('button[data-command="go_home"]').click();
  await waitFor(async () => /go_home sent to veh-0002/.test(await popup.locator('.command-result').textContent()), 5000, 'the page to confirm go_home');
  await waitFor(() => ['returning', 'parked'].includes(latest.get('veh-0002')?.values.mode), 5000, 'veh-0002 to head home');
  await waitFor(async () => (await where(page, 'veh-0002')).colour !== '#1565c0', 5000, 'veh-0002 to change colour on the map');
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-fleet.png'), fullPage: true });

  // Geofence: a vehicle of the test's own drives into the depot zone and out
  // again; ingest's geofence plugin says so and the page lists both events.
  let seq = 0;
  const drive = (lat, lon) => watcher.publishAsync('devices/veh-0900/telemetry', JSON.stringify({ ts: Date.now(), seq: ++seq,
    values: { lat, lon, speed: 20, heading: 90, fuel: 50, engine_temp: 88, odometer: 1, mode: 'route' } }), { qos: 1 });
  const event = (ev) => page.locator(`#geofence-events li[data-device="veh-0900"][data-event="${ev}"][data-zone="depot"]`);
  await drive(DEPOT.lat, DEPOT.lon - 0.02);
  await waitFor(async () => Math.abs((await where(page, 'veh-0900'))?.lon - (DEPOT.lon - 0.02)) < 1e-9, 5000, 'veh-0900 on the map outside the depot');
  assert.equal(await event('enter').count(), 0, 'an enter event for a vehicle outside the zone');
  await drive(DEPOT.lat, DEPOT.lon);
  await waitFor(() => event('enter').count(), 5000, 'veh-0900 entering the depot in the event list');
  assert.deepEqual(await page.evaluate(() => window.telewire.fleet.inside('veh-0900')), ['depot']);
  assert.match(await event('enter').textContent(), /veh-0900 entered depot/);
  await drive(DEPOT.lat + 0.02, DEPOT.lon);
  await waitFor(() => event('leave').count(), 5000, 'veh-0900 leaving the depot in the event list');
  assert.match(await event('leave').textContent(), /veh-0900 left depot/);
  assert.deepEqual(await page.evaluate(() => window.telewire.fleet.inside('veh-0900')), []);

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

  // The page forced onto Server-Sent Events, then long polling: it says so and vehicles move.
  for (const [query, name] of [['?transport=sse', 'ServerSentEvents'], ['?transport=longpolling', 'LongPolling']]) {
    const other = await openPage(browser, pipeline, { query, viewport: { width: 1200, height: 900 } });
    assert.equal(await other.page.locator('#state').textContent(), `connected (${name})`);
    await waitFor(async () => Number.isFinite((await where(other.page, 'veh-0001'))?.x), 10000, `veh-0001 drawn over ${name}`);
    const w0 = await where(other.page, 'veh-0001');
    await waitFor(async () => { const w = await where(other.page, 'veh-0001'); return w.lat !== w0.lat || w.lon !== w0.lon; }, 10000, `veh-0001 to move over ${name}`);
    await other.page.screenshot({ path: path.join(SHOTS, `dashboard-${name}.png`) });
    assert.deepEqual(other.pageErrors, [], `errors in the page over ${name}`);
    assert.deepEqual(other.external, [], `the page over ${name} requested something outside the hub`);
    await other.page.close();
  }

  // The hub restarts: reconnecting, then connected again, and data flows.
  await pipeline.stopHub();
  await waitFor(async () => ['reconnecting', 'disconnected'].includes(await state()), 15000, 'the page to notice the hub is gone');
  await pipeline.restartHub();
  await waitFor(async () => (await state()) === 'connected', 30000, 'the page to reconnect');
  const p1 = await points();
  await waitFor(async () => (await points()) !== p1, 10000, 'telemetry after the reconnect');
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-reconnected.png'), fullPage: true });

  assert.deepEqual(external, [], 'the page requested something outside the hub');
  assert.deepEqual(pageErrors, [], 'errors in the page');
});
