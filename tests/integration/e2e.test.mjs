// e2e.test.mjs -- the whole path: sim -> mosquitto -> ingest (plugins, history) -> hub -> official SignalR client
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import * as signalR from '@microsoft/signalr';
import { BIN, freePort, startBroker, startProc, tmpDir, waitFor } from '../harness/index.mjs';

const VEHICLES = 3;
const SENSORS = 3;
const COUNT = 20;              // good messages per device
const SEQ_START = 1000;

const INGEST_CONFIG = `
[transform fahrenheit]
plugin = unit_convert
key = temp
from = c
to = f
output = temp_f

[transform speed_avg]
plugin = moving_average
key = speed
window = 5

[route fleet]
match = veh-*
transforms = speed_avg
groups = fleet

[route temperature]
match = temp-*
transforms = fahrenheit
groups = temperature
`;

function history(db, ...args) {
  return JSON.parse(execFileSync(path.join(BIN, 'telewire-history'), ['--db', db, ...args, '--format', 'json']).toString());
}

test('telemetry flows from simulator to a SignalR client and into history', async (t) => {
  const dir = tmpDir(t);
  const broker = await startBroker(t);
  const hubPort = await freePort();
  const hub = startProc(t, 'telewire-hub', ['--mqtt', broker.uri, '--listen', `127.0.0.1:${hubPort}`]);
  await hub.waitForLog(/listening/i);

  const conf = path.join(dir, 'telewire.ini');
  fs.writeFileSync(conf, INGEST_CONFIG);
  const db = path.join(dir, 'history.db');
  const ingest = startProc(t, 'telewire-ingest', ['--mqtt', broker.uri, '--config', conf, '--history', db]);
  await ingest.waitForLog(/consuming /);

  // Dead letters: every malformed payload must come back here with a reason.
  const watcher = await mqtt.connectAsync(broker.url);
  t.after(() => watcher.endAsync());
  const deadletters = [];
  watcher.on('message', (topic, p) => deadletters.push({ topic, body: JSON.parse(p.toString()) }));
  await watcher.subscribeAsync('telewire/deadletter/#', { qos: 1 });

  // The official client, through app-side negotiate, exactly as a browser does.
  const client = new signalR.HubConnectionBuilder()
    .withUrl(`http://127.0.0.1:${hubPort}/api?hub=telemetry`, { transport: signalR.HttpTransportType.WebSockets })
    .configureLogging(signalR.LogLevel.Warning)
    .build();
  const got = [];
  client.on('telemetry', (rec) => got.push(rec));
  await client.start();
  t.after(() => client.stop());
  await client.invoke('JoinGroup', 'fleet');
  await client.invoke('JoinGroup', 'temperature');

  const sim = startProc(t, 'telewire-sim', ['--mqtt', broker.uri, '--vehicles', `${VEHICLES}`,
    '--sensors', `${SENSORS}`, '--rate', '20', '--count', `${COUNT}`, '--seq-start', `${SEQ_START}`,
    '--bad-ratio', '0.25', '--seed', '7']);
  const { code } = await sim.exited;
  assert.equal(code, 0, `telewire-sim failed:\n${sim.output()}`);
  const m = /(\d+) messages \+ (\d+) malformed/.exec(sim.output());
  assert.ok(m, `no summary in the simulator's output:\n${sim.output()}`);
  const good = Number(m[1]);
  const bad = Number(m[2]);
  assert.equal(good, (VEHICLES + SENSORS) * COUNT);
  assert.ok(bad > 0, 'the simulator sent no malformed payloads');

  await waitFor(() => got.length >= good, 10000, `${good} telemetry messages at the client (got ${got.length})`);
  await waitFor(() => deadletters.length >= bad, 5000, `${bad} dead letters (got ${deadletters.length})`);

  // Every (device, seq) exactly once at the client.
  const seen = new Set(got.map((r) => `${r.device}/${r.seq}`));
  assert.equal(seen.size, good, 'duplicates or losses at the client');
  for (let i = 1; i <= SENSORS; i++) {
    const id = `temp-${String(i).padStart(4, '0')}`;
    const recs = got.filter((r) => r.device === id);
    assert.equal(recs.length, COUNT, `${id}: ${recs.length} messages`);
    for (const r of recs) {
      assert.ok(Math.abs(r.values.temp_f - (r.values.temp * 9 / 5 + 32)) < 1e-6,
        `${id} seq ${r.seq}: temp_f ${r.values.temp_f} is not temp ${r.values.temp} in Fahrenheit`);
    }
  }
  for (const r of got.filter((x) => x.device.startsWith('veh-'))) {
    assert.equal(typeof r.values.speed_avg, 'number', `veh ${r.device} seq ${r.seq} has no speed_avg`);
  }
  for (const d of deadletters) {
    assert.match(d.topic, /^telewire\/deadletter\/(veh|temp)-\d{4}$/);
    assert.equal(typeof d.body.reason, 'string');
    assert.ok(d.body.reason.length > 5, `reason too vague: ${d.body.reason}`);
  }

  // History holds every record once, with the values the client saw.
  await ingest.stop();
  const devices = history(db, 'devices');
  assert.equal(devices.length, VEHICLES + SENSORS, JSON.stringify(devices));
  const rows = history(db, 'query', '--device', 'temp-0001', '--keys', 'temp,temp_f', '--start', '0', '--end', `${Date.now() + 1000}`);
  const client1 = got.filter((r) => r.device === 'temp-0001');
  assert.equal(rows.filter((r) => r.key === 'temp').length, COUNT, JSON.stringify(rows.slice(0, 3)));
  for (const r of rows.filter((x) => x.key === 'temp_f')) {
    const c = client1.find((x) => x.ts === r.ts);
    assert.ok(c, `history row at ts ${r.ts} was never pushed to the client`);
    assert.ok(Math.abs(c.values.temp_f - r.value) < 1e-9);
  }
});
