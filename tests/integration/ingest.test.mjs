// ingest.test.mjs -- telewire-ingest with a real mosquitto: results, dead letters, history, duplicates
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { BIN, BUILD, historyValues, startBroker, startProc, tmpDir, waitFor } from '../harness/index.mjs';

const CONFIG = `
[transform kmh]
plugin = unit_convert
key = speed
from = m_s
to = km_h

[transform avg]
plugin = moving_average
key = speed
window = 2

[route fleet]
match = veh-*
transforms = kmh, avg
groups = fleet, alerts

[route temperature]
match = temp-*
groups = temperature
`;

function history(db, ...args) {
  const out = execFileSync(path.join(BIN, 'telewire-history'), ['--db', db, ...args, '--format', 'json']);
  return JSON.parse(out.toString());
}

function sqlite(db, sql) {
  return execFileSync('sqlite3', [db, sql]).toString().trim();
}

/** A subscriber that keeps every result envelope and dead letter it sees. */
async function watch(t, url) {
  const c = await mqtt.connectAsync(url, { clientId: `watch-${process.pid}-${Date.now()}` });
  t.after(() => c.endAsync());
  const seen = { results: [], dead: [], batches: 0 };
  c.on('message', (topic, p) => {
    const body = JSON.parse(p.toString());
    if (topic.startsWith('telewire/deadletter/')) {
      seen.dead.push({ ...body, deadTopic: topic });
      return;
    }
    assert.equal(topic, 'telewire/hub/telemetry/results');
    assert.ok(Array.isArray(body), 'results come as a JSON array of envelopes');
    seen.batches++;
    seen.results.push(...body);
  });
  await c.subscribeAsync(['telewire/hub/telemetry/#', 'telewire/deadletter/#'], { qos: 1 });
  return seen;
}

const of = (seen, device, group) =>
  seen.results.filter((e) => e.args[0].device === device && (!group || e.name === group));

/** Publishes from a warm-up device until ingest answers, so its subscription is live. */
async function warmUp(pub, seen, device) {
  let seq = 0;
  await waitFor(async () => {
    await pub.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ seq: seq++, t: 1 }), { qos: 1 });
    return of(seen, device).length > 0;
  }, 15000, `a first result from ${device}`);
}

function startIngest(t, broker, dir, extra = []) {
  const conf = path.join(dir, 'ingest.ini');
  fs.writeFileSync(conf, CONFIG);
  return startProc(t, 'telewire-ingest', ['--mqtt', broker.uri, '--config', conf,
    '--history', path.join(dir, 'history.db'), '--client-id', `ingest-test-${broker.port}`,
    '--stats-interval', '1', ...extra]);
}

test('good telemetry reaches its groups and history once; bad telemetry is dead-lettered', async (t) => {
  const dir = tmpDir(t);
  const db = path.join(dir, 'history.db');
  const broker = await startBroker(t);
  const seen = await watch(t, broker.url);
  let ingest = startIngest(t, broker, dir);
  const pub = await mqtt.connectAsync(broker.url, { clientId: `pub-${process.pid}` });
  t.after(() => pub.endAsync());
  await warmUp(pub, seen, 'temp-warm');

  const T = Date.now() - 60000;
  const send = (dev, body) => pub.publishAsync(`devices/${dev}/telemetry`,
    typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body), { qos: 1 });
  await send('veh-1', { ts: T, seq: 1, values: { speed: 10 } });
  await send('veh-1', { ts: T + 1000, seq: 2, values: { speed: 20, moving: true } });
  await send('veh-1', { ts: T + 1000, seq: 2, values: { speed: 20, moving: true } }); // redelivered
  await send('veh-2', '{"speed":');
  await send('veh-3', { ts: 1.5, values: { a: 1 } });
  await send('temp-2', { note: 'x'.repeat(300) });
  await send('temp-3', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])); // {"a":"\xff"}
  await send('temp-4', { ts: Date.now() + 2 * 86400000 + 60000, temp: 1 });
  await send('temp-1', [{ ts: T, seq: 1, values: { temp: 21.5 } }, { ts: T + 1000, seq: 2, values: { temp: 21.6 } }]);
  await send('temp-1', { ts: T + 2000, seq: 3, temp: 22, label: 'ok' });

  // Messages are handled in order, so once temp-1's last result is here the
  // duplicate before it has been handled (and dropped) too.
  await waitFor(() => of(seen, 'temp-1').length >= 3, 10000, 'three temp-1 results');
  await waitFor(() => seen.dead.length >= 5, 10000, `five dead letters (got ${JSON.stringify(seen.dead)})`);

  // Vehicles: converted to km/h, averaged over 2, sent to both groups, once each.
  for (const group of ['fleet', 'alerts']) {
    const v = of(seen, 'veh-1', group);
    assert.equal(v.length, 2, `veh-1 in ${group}: ${JSON.stringify(v)}`);
    assert.deepEqual(v.map((e) => e.args[0].seq), [1, 2]);
    assert.ok(Math.abs(v[0].args[0].values.speed - 36) < 1e-9);
    assert.ok(Math.abs(v[1].args[0].values.speed - 72) < 1e-9);
    assert.ok(Math.abs(v[1].args[0].values.speed_avg - 54) < 1e-9);
    assert.equal(v[1].args[0].values.moving, true);
    assert.equal(v[1].args[0].ts, T + 1000);
    assert.equal(v[0].target, 'group');
    assert.equal(v[0].method, 'telemetry');
    assert.equal(v[0].key, 'veh-1');
  }
  const temps = of(seen, 'temp-1', 'temperature');
  assert.deepEqual(temps.map((e) => e.args[0].values.temp), [21.5, 21.6, 22]);
  assert.equal(temps[2].args[0].values.label, 'ok');
  assert.equal(of(seen, 'temp-1').length, 3, 'temp-1 goes to its one group only');

  // Dead letters: one per bad message, on the device's topic, with a specific reason.
  const dead = Object.fromEntries(seen.dead.map((d) => [d.deadTopic.split('/')[2], d]));
  assert.match(dead['veh-2'].reason, /^not JSON: .* at line 1 column \d+$/);
  assert.equal(dead['veh-2'].payload, '{"speed":');
  assert.equal(dead['veh-2'].topic, 'devices/veh-2/telemetry');
  assert.match(dead['veh-3'].reason, /^ts must be an integer number of milliseconds/);
  assert.equal(dead['temp-2'].reason, "field 'note': string of 300 bytes, limit 256");
  assert.match(dead['temp-3'].reason, /^not JSON: /);
  assert.equal(dead['temp-3'].payload, '{"a":"?"}');
  assert.equal(dead['temp-4'].reason, 'ts is 2 days in the future (limit 300 s)');
  assert.equal(seen.dead.length, 5);

  // History: the good records once each, with the transformed values, once
  // their group commit is done (--commit-ms after the last one).
  let rows = [];
  await waitFor(() => (rows = history(db, 'query', '--device', 'veh-1', '--keys', 'speed,speed_avg')).length >= 4,
    5000, 'veh-1 in history');
  assert.deepEqual(rows.map((r) => [r.key, r.ts, r.value]),
    [['speed', T, 36], ['speed', T + 1000, 72], ['speed_avg', T, 36], ['speed_avg', T + 1000, 54]]);
  const trows = history(db, 'query', '--device', 'temp-1', '--keys', 'temp', '--start', `${T + 500}`, '--order', 'desc');
  assert.deepEqual(trows.map((r) => r.value), [22, 21.6]);
  const devices = history(db, 'devices');
  assert.deepEqual(devices, ['temp-1', 'temp-warm', 'veh-1']);
  assert.deepEqual(history(db, 'keys', '--device', 'veh-1'), ['moving', 'speed', 'speed_avg']);
  assert.equal(historyValues(db).filter((v) => v.device === 'veh-1').length, 5);

  // The summary line counts what happened.
  await ingest.waitForLog(/rejected 5, stored \d+, published \d+, dropped 0, duplicates 1,/, 5000);

  // Stop: a clean exit. Meanwhile the persistent session keeps what devices send.
  const r = await ingest.stop();
  assert.equal(r.code, 0, `exit ${JSON.stringify(r)}:\n${ingest.output()}`);
  await send('veh-1', { ts: T + 1000, seq: 2, values: { speed: 20, moving: true } }); // duplicate again
  await send('veh-1', { ts: T + 2000, seq: 4, values: { speed: 30 } });                // new, while down
  const before = of(seen, 'veh-1').length;
  ingest = startIngest(t, broker, dir);
  await waitFor(() => of(seen, 'veh-1').length > before, 15000, 'veh-1 seq 4 after the restart');
  await send('temp-1', { ts: T + 3000, seq: 4, temp: 23 });
  await waitFor(() => of(seen, 'temp-1').length >= 4, 10000, 'temp-1 seq 4 after the restart');
  const after = of(seen, 'veh-1', 'fleet').map((e) => e.args[0].seq);
  assert.deepEqual(after, [1, 2, 4], 'the duplicate was not republished after the restart');
  let speeds = [];
  await waitFor(() => (speeds = history(db, 'query', '--device', 'veh-1', '--keys', 'speed')).length >= 3,
    5000, 'veh-1 seq 4 in history');
  assert.deepEqual(speeds.map((x) => x.ts), [T, T + 1000, T + 2000]);
  assert.equal((await ingest.stop()).code, 0);
  assert.match(ingest.output(), /duplicates 1,/);
});

test('history: of messages at one ts the last one wins, whatever order the writer stores devices in', async (t) => {
  const dir = tmpDir(t);
  const db = path.join(dir, 'history.db');
  const broker = await startBroker(t);
  const seen = await watch(t, broker.url);
  const ingest = startIngest(t, broker, dir);
  const pub = await mqtt.connectAsync(broker.url, { clientId: `pub-order-${process.pid}` });
  t.after(() => pub.endAsync());
  await warmUp(pub, seen, 'temp-warm');

  // Devices first seen in an order that is not their names' (the writer
  // sorts each batch by device id), each sending five values at one ts,
  // interleaved, without waiting in between: they share writer batches.
  const T = Date.now() - 60000;
  const devices = ['temp-z', 'temp-a', 'temp-m'];
  const sends = [];
  for (let v = 1; v <= 5; v++) {
    for (const dev of devices) {
      sends.push(pub.publishAsync(`devices/${dev}/telemetry`,
        JSON.stringify({ ts: T, seq: v, values: { x: v * 10 } }), { qos: 1 }));
    }
  }
  await Promise.all(sends);
  for (const dev of devices) {
    let rows = [];
    await waitFor(() => {
      rows = history(db, 'query', '--device', dev, '--keys', 'x');
      return rows.length === 1 && sqlite(db, `SELECT count(*) FROM seen s JOIN devices d ON d.id = s.device_id WHERE d.name = '${dev}'`) === '5';
    }, 10000, `all five messages of ${dev} stored`);
    assert.deepEqual(rows.map((r) => [r.ts, r.value]), [[T, 50]], `${dev}: the last value at ${T}`);
  }
  assert.equal((await ingest.stop()).code, 0);
});

test('start-up refuses bad routes and plugins with exit 2, naming the file', async (t) => {
  const dir = tmpDir(t);
  const run = (ini, extra = []) => {
    const conf = path.join(dir, 'bad.ini');
    fs.writeFileSync(conf, ini);
    const r = spawnSync(path.join(BIN, 'telewire-ingest'), ['--config', conf, '--mqtt', 'tcp://127.0.0.1:1', ...extra]);
    return { code: r.status, err: r.stderr.toString(), conf };
  };
  let r = run('[route r]\nmatch = *\ntransforms = nope\n');
  assert.equal(r.code, 2, r.err);
  assert.ok(r.err.includes(`${r.conf}: [route r]: transforms: no section [transform nope]`), r.err);

  r = run('[transform x]\nplugin = /no/such/plugin.so\n[route r]\nmatch = *\ntransforms = x\n');
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /plugin \/no\/such\/plugin\.so \(transform 'x'\): cannot open: No such file/);

  const notlib = path.join(dir, 'text.so');
  fs.writeFileSync(notlib, 'not a library');
  r = run(`[transform x]\nplugin = ${notlib}\n`);
  assert.equal(r.code, 2, r.err);
  assert.ok(r.err.includes(`plugin ${notlib} (transform 'x'): not a loadable shared object`), r.err);

  r = run('[transform avg]\nplugin = moving_average\nwindow = 3\n');
  assert.equal(r.code, 2, r.err);
  assert.ok(r.err.includes(path.join(BUILD, 'lib', 'plugins', 'moving_average.so')), r.err);
  assert.match(r.err, /init failed: option 'key' is required/);

  r = run('[route r]\nmatch = *\ncolour = red\n');
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /\[route r\] colour: unknown key/);

  r = run('', ['--max-fields', 'lots']);
  assert.equal(r.code, 2, r.err);

  const help = spawnSync(path.join(BIN, 'telewire-ingest'), ['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout.toString(), /--history FILE/);
});
