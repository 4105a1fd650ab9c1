// ingest_delivery.test.mjs -- ingest's delivery guarantees with real processes: kill -9, broker restart, shared subscriptions, topic filters
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { BIN, freePort, historyValues, sleep, startBroker, startProc, tmpDir, waitFor } from '../harness/index.mjs';

const DEVICES = 20;
const T0 = Date.now() - 3600 * 1000;  // device-set ts: T0 + seq, so a redelivery repeats seq and ts

/** The messages of a run: per device seq 1..perDevice, interleaved as devices take turns. */
function stream(prefix, perDevice) {
  const out = [];
  for (let seq = 1; seq <= perDevice; seq++) {
    for (let d = 1; d <= DEVICES; d++) {
      const device = `${prefix}-${String(d).padStart(2, '0')}`;
      out.push({ device, seq, topic: `devices/${device}/telemetry`,
        payload: JSON.stringify({ ts: T0 + seq, seq, values: { n: seq } }) });
    }
  }
  return out;
}

const key = (m) => `${m.device}/${m.seq}`;

/**
 * Publishes msgs at QoS 1, about `rate` a second, up to `window` unacknowledged.
 * Resolves to { acked: Set of device/seq the broker acknowledged, failed, ms }.
 * `progress` (shared object) shows how far it is while it runs.
 */
async function publish(url, msgs, { rate = 4000, window = 400, clientId, progress = {} } = {}) {
  const c = await mqtt.connectAsync(url, { clientId: clientId || `dlv-pub-${process.pid}-${Date.now()}`,
    clean: !clientId, reconnectPeriod: 200, connectTimeout: 5000 });
  const acked = new Set();
  const failed = [];
  const t0 = Date.now();
  let next = 0;
  progress.acked = 0;
  progress.sent = 0;
  async function lane() {
    while (next < msgs.length) {
      const m = msgs[next++];
      const due = t0 + (next * 1000) / rate;
      if (due > Date.now()) await sleep(due - Date.now());
      progress.sent++;
      try {
        await c.publishAsync(m.topic, m.payload, { qos: 1 });
        acked.add(key(m));
        progress.acked++;
      } catch (e) {
        failed.push(`${key(m)}: ${e.message}`);
      }
    }
  }
  await Promise.all(Array.from({ length: window }, lane));
  const ms = Date.now() - t0;
  await c.endAsync();
  return { acked, failed, ms };
}

/** name{labels} -> value from ingest's /metrics. */
async function metrics(port) {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  const out = new Map();
  for (const line of (await r.text()).split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\d+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** Records of key n in the history file, as device/seq -> rows holding it. */
function stored(db) {
  const rows = new Map();
  for (const { device, ts, value: seq } of historyValues(db).filter((v) => v.key === 'n')) {
    assert.equal(ts, T0 + seq, `history value ${device}/${ts}: value n and ts disagree`);
    const k = `${device}/${seq}`;
    rows.set(k, (rows.get(k) || 0) + 1);
  }
  return rows;
}

const seenCount = (db) => Number(execFileSync('sqlite3', [db, 'SELECT count(*) FROM seen']).toString());

/** Lists the first few, and how many in all. */
const few = (xs) => `${xs.length}${xs.length ? `: ${xs.slice(0, 10).join(', ')}${xs.length > 10 ? ', ...' : ''}` : ''}`;

/**
 * Every key of `must` is in history exactly once, and history holds nothing
 * that was not sent. Says what it expected and what it saw.
 */
function assertExactlyOnce(db, sent, must, what) {
  const rows = stored(db);
  const missing = [...must].filter((k) => !rows.has(k));
  const doubled = [...rows].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
  const strange = [...rows.keys()].filter((k) => !sent.has(k));
  assert.deepEqual({ missing: few(missing), doubled: few(doubled), unknown: few(strange) },
    { missing: '0', doubled: '0', unknown: '0' },
    `${what}: expected each of ${must.size} messages in history exactly once; history has ${rows.size} ` +
    `record(s): missing ${few(missing)}; doubled ${few(doubled)}; never sent ${few(strange)}`);
  assert.equal(seenCount(db), rows.size, `${what}: the seen table and the values disagree`);
  return rows.size;
}

function ingestArgs(broker, db, id, mport, extra = []) {
  return ['--mqtt', broker.uri, '--history', db, '--client-id', id, '--listen', `127.0.0.1:${mport}`,
    '--stats-interval', '1', ...extra];
}

/** Stops p with SIGTERM: exit 0 and no sanitizer report, or says what it saw. */
async function stopClean(p, what) {
  const r = await p.stop();
  assert.equal(r.code, 0, `${what}: expected exit 0 after SIGTERM, got ${JSON.stringify(r)}:\n${p.output().slice(-3000)}`);
  assert.doesNotMatch(p.output(), /Sanitizer|runtime error/, `${what}: sanitizer report`);
}

/** Waits until the output of p matches re; on time-out the error shows the output as it is then. */
async function waitForOutput(p, re, ms, what) {
  await waitFor(() => {
    if (re.test(p.output())) return true;
    throw new Error(`not yet; output so far:\n${p.output().slice(-3000)}`);
  }, ms, what);
}

/** Waits until the history holds n records and then stays put for a moment. */
async function drained(db, n, ms, what) {
  await waitFor(() => seenCount(db) >= n, ms, `${what}: ${n} records in history (has ${seenCount(db)})`);
  await sleep(300);
}

/** Subscribes to the results; counts each (device, seq) it sees. */
async function watchResults(t, url) {
  const c = await mqtt.connectAsync(url, { clientId: `dlv-watch-${process.pid}-${Date.now()}` });
  t.after(() => c.endAsync());
  const seen = new Map();
  c.on('message', (topic, p) => {
    for (const e of JSON.parse(p.toString())) {
      const k = `${e.args[0].device}/${e.args[0].seq}`;
      seen.set(k, (seen.get(k) || 0) + 1);
    }
  });
  await c.subscribeAsync('telewire/hub/telemetry/results', { qos: 1 });
  return seen;
}

test('kill -9 of ingest while devices publish: every message in history exactly once', async (t) => {
  const dir = tmpDir(t);
  const db = path.join(dir, 'history.db');
  const broker = await startBroker(t);
  const mport = await freePort();
  const id = `dlv-kill-${broker.port}`;
  const results = await watchResults(t, broker.url);
  const start = () => startProc(t, 'telewire-ingest', ingestArgs(broker, db, id, mport));
  let ingest = start();
  await ingest.waitForLog(/subscribed to devices\/\+\/telemetry \(QoS 1\)/);

  const msgs = stream('veh-k', 1000);
  const sent = new Set(msgs.map(key));
  const progress = {};
  const t0 = Date.now();
  const pub = publish(broker.url, msgs, { rate: 4000, progress });
  const kills = [];
  for (const at of [0.25, 0.6]) {
    await waitFor(() => progress.acked >= at * msgs.length, 30000, `${at * 100}% of the messages published`);
    const m = await metrics(mport);
    await ingest.stop('SIGKILL');
    kills.push(`at ${progress.acked} acknowledged to the publisher, ingest had received ` +
      `${m.get('telewire_ingest_received_total')}, stored ${m.get('telewire_ingest_stored_total')}`);
    await sleep(700);  // the broker queues for the session meanwhile
    ingest = start();
    await ingest.waitForLog(/connected to \S+ as dlv-kill-\d+ \(session resumed\)/);
  }
  const { acked, failed, ms } = await pub;
  assert.deepEqual(failed, [], 'the publisher saw failures');
  assert.equal(acked.size, msgs.length);
  assert.ok(progress.acked === msgs.length && kills.length === 2);
  await drained(db, msgs.length, 60000, 'after the stream');
  const drainedMs = Date.now() - t0;
  const m = await metrics(mport);
  assertExactlyOnce(db, sent, sent, 'kill -9');
  const twice = [...results].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
  assert.equal(twice.length, 0, `results published twice after a restart: ${few(twice)}`);
  assert.equal(m.get('telewire_ingest_db_errors_total'), 0);
  await stopClean(ingest, 'the last ingest');
  t.diagnostic(`${msgs.length} messages from ${DEVICES} devices published in ${ms} ms, all in history ` +
    `${drainedMs} ms after the start; kills ${kills.join('; ')}; the last ingest received ` +
    `${m.get('telewire_ingest_received_total')} and dropped ${m.get('telewire_ingest_duplicates_total')} ` +
    `redelivered duplicate(s); ${results.size} results published`);
});

test('broker restart mid-stream (broker persistence on): ingest reconnects, nothing acknowledged is lost', async (t) => {
  const dir = tmpDir(t);
  const db = path.join(dir, 'history.db');
  const persistenceDir = tmpDir(t);
  let broker = await startBroker(t, { persistenceDir });
  const mport = await freePort();
  const id = `dlv-restart-${broker.port}`;
  const ingest = startProc(t, 'telewire-ingest', ingestArgs(broker, db, id, mport));
  await ingest.waitForLog(/subscribed to devices\/\+\/telemetry \(QoS 1\)/);

  const msgs = stream('veh-r', 500);
  const sent = new Set(msgs.map(key));
  const progress = {};
  const pub = publish(broker.url, msgs, { rate: 3000, progress, clientId: `dlv-restart-pub-${broker.port}` });
  await waitFor(() => progress.acked >= msgs.length * 0.35, 30000, '35% of the messages published');
  const before = { acked: progress.acked, stored: seenCount(db) };
  const down = Date.now();
  await broker.stop();
  broker = await startBroker(t, { port: broker.port, persistenceDir });
  await ingest.waitForLog(/connection to \S+ lost; reconnecting/, 5000);
  const resumed = new RegExp(`lost; reconnecting[\\s\\S]*connected to \\S+ as ${id} \\(session resumed\\)`);
  await waitForOutput(ingest, resumed, 15000, 'ingest to reconnect by itself and resume its session');
  const backMs = Date.now() - down;
  const { acked, failed, ms } = await pub;
  assert.deepEqual(failed, [], 'the publisher saw failures');
  await drained(db, acked.size, 60000, 'after the stream');
  const n = assertExactlyOnce(db, sent, acked, 'broker restart');
  const m = await waitFor(async () => {
    const x = await metrics(mport);
    return x.get('telewire_ingest_publish_pending') === 0 ? x : null;
  }, 10000, 'the result publishes to be acknowledged after the restart');
  assert.equal(m.get('telewire_ingest_db_errors_total'), 0);
  assert.equal(m.get('telewire_ingest_connected'), 1);
  assert.ok(m.get('telewire_ingest_reconnects_total') >= 1, 'reconnects not counted');
  await stopClean(ingest, 'ingest');
  t.diagnostic(`${msgs.length} messages published in ${ms} ms (${acked.size} acknowledged); broker stopped ` +
    `after ${before.acked} acknowledged (${before.stored} in history then), ingest back ${backMs} ms later; ` +
    `${n} in history exactly once, ${m.get('telewire_ingest_duplicates_total')} duplicate(s) dropped`);
});

test('two workers on one shared subscription split the load; nothing lost, nothing doubled', async (t) => {
  const dir = tmpDir(t);
  // Both write one history file: WAL takes one writer at a time and the
  // store waits for the lock (busy timeout), as workers sharing a disk would.
  const db = path.join(dir, 'history.db');
  const broker = await startBroker(t);
  const results = await watchResults(t, broker.url);
  const ports = [await freePort(), await freePort()];
  const workers = ports.map((p, i) => startProc(t, 'telewire-ingest',
    ingestArgs(broker, db, `dlv-worker-${i + 1}-${broker.port}`, p, ['--shared-group', 'dlv'])));
  for (const w of workers) await w.waitForLog(/subscribed to \$share\/dlv\/devices\/\+\/telemetry \(QoS 1\)/);

  // 6 s of load, longer than SQLite's busy timeout (5 s): a worker that
  // began its next transaction the instant it committed would keep the
  // other from ever getting the lock (a db error after 5 s).
  const msgs = stream('veh-s', 1500);
  const sent = new Set(msgs.map(key));
  const { acked, failed, ms } = await publish(broker.url, msgs, { rate: 5000 });
  assert.deepEqual(failed, []);
  assert.equal(acked.size, msgs.length);
  await drained(db, msgs.length, 60000, 'after the stream');
  assertExactlyOnce(db, sent, sent, 'shared subscription');
  const got = await Promise.all(ports.map(metrics));
  const received = got.map((x) => x.get('telewire_ingest_received_total'));
  for (const [i, r] of received.entries()) {
    assert.ok(r > 0.2 * msgs.length, `worker ${i + 1} received ${r} of ${msgs.length} messages; expected over 20% ` +
      `(received: ${received.join(' + ')})`);
  }
  assert.equal(received[0] + received[1], msgs.length,
    `each message to one worker: expected ${msgs.length} received in all, saw ${received.join(' + ')}`);
  for (const x of got) {
    assert.equal(x.get('telewire_ingest_duplicates_total'), 0);
    assert.equal(x.get('telewire_ingest_db_errors_total'), 0, 'a worker failed to write (SQLITE_BUSY?)');
  }
  await waitFor(() => results.size >= msgs.length, 15000, `results for all ${msgs.length} messages (got ${results.size})`);
  const twice = [...results].filter(([, c]) => c > 1).map(([k, c]) => `${k} x${c}`);
  assert.equal(twice.length, 0, `results published twice: ${few(twice)}`);
  for (const [i, w] of workers.entries()) await stopClean(w, `worker ${i + 1}`);
  t.diagnostic(`${msgs.length} messages published in ${ms} ms; workers received ${received.join(' and ')}`);
});

test('a shared worker killed with -9 gets its share back when it returns under its client id', async (t) => {
  const dir = tmpDir(t);
  const db = path.join(dir, 'history.db');
  const broker = await startBroker(t);
  const ports = [await freePort(), await freePort()];
  const start = (i) => startProc(t, 'telewire-ingest',
    ingestArgs(broker, db, `dlv-sk-${i + 1}-${broker.port}`, ports[i], ['--shared-group', 'dlv']));
  const workers = [start(0), start(1)];
  for (const w of workers) await w.waitForLog(/subscribed to \$share\/dlv\/devices\/\+\/telemetry \(QoS 1\)/);

  const msgs = stream('veh-sk', 500);
  const sent = new Set(msgs.map(key));
  const progress = {};
  const pub = publish(broker.url, msgs, { rate: 4000, progress });
  await waitFor(() => progress.acked >= msgs.length * 0.3, 30000, '30% of the messages published');
  await workers[1].stop('SIGKILL');
  const downAt = progress.acked;
  await sleep(1000);  // mosquitto keeps dealing worker 2 its share, into its session
  const upAt = progress.acked;
  workers[1] = start(1);
  await workers[1].waitForLog(/as dlv-sk-2-\d+ \(session resumed\)/);
  const { acked, failed } = await pub;
  assert.deepEqual(failed, []);
  assert.equal(acked.size, msgs.length);
  await drained(db, msgs.length, 60000, 'after the stream');
  assertExactlyOnce(db, sent, sent, 'shared subscription with a worker killed');
  const received = await Promise.all(ports.map(async (p) => (await metrics(p)).get('telewire_ingest_received_total')));
  for (const [i, w] of workers.entries()) await stopClean(w, `worker ${i + 1}`);
  t.diagnostic(`worker 2 was down while ${upAt - downAt} messages were published; after its return it ` +
    `received ${received[1]}, worker 1 ${received[0]} in all`);
});

test('several topic filters, the device from a level, and re-subscribing after a broker restart without persistence', async (t) => {
  const dir = tmpDir(t);
  const db = path.join(dir, 'history.db');
  const db2 = path.join(dir, 'history2.db');
  let broker = await startBroker(t);
  const ports = [await freePort(), await freePort()];
  const filters = 'devices/+/telemetry, plant/+/devices/+/data';
  const a = startProc(t, 'telewire-ingest', ingestArgs(broker, db, `dlv-filters-${broker.port}`, ports[0],
    ['--topic', filters]));
  const b = startProc(t, 'telewire-ingest', ingestArgs(broker, db2, `dlv-level-${broker.port}`, ports[1],
    ['--topic', 'sensors/+/up', '--device-level', '2']));
  await a.waitForLog(/subscribed to devices\/\+\/telemetry, plant\/\+\/devices\/\+\/data \(QoS 1\)/);
  await b.waitForLog(/subscribed to sensors\/\+\/up \(QoS 1\)/);

  const send = async (round) => {
    const c = await mqtt.connectAsync(broker.url, { clientId: `dlv-f-${process.pid}-${round}` });
    const body = JSON.stringify({ ts: T0 + round, seq: round, values: { n: round } });
    await c.publishAsync('devices/veh-f1/telemetry', body, { qos: 1 });
    await c.publishAsync('plant/p1/devices/veh-f2/data', body, { qos: 1 });
    await c.publishAsync('sensors/t-7/up', body, { qos: 1 });
    await c.endAsync();
  };
  const expect = (rounds) => new Set(rounds.flatMap((r) => [`veh-f1/${r}`, `veh-f2/${r}`]));
  await send(1);
  await drained(db, 2, 10000, 'both filters');
  await drained(db2, 1, 10000, '--device-level 2');

  // Without broker persistence the sessions die with the broker: only
  // subscribing again on reconnect brings messages back.
  const port = broker.port;
  await broker.stop();
  broker = await startBroker(t, { port });
  for (const p of [a, b]) {
    await waitForOutput(p, /lost; reconnecting[\s\S]*\(session new\)[\s\S]*subscribed to /, 15000,
      'a reconnect with a new session (the broker lost the old one) and the filters subscribed again');
  }
  await send(2);
  await drained(db, 4, 10000, 'both filters after the restart');
  await drained(db2, 2, 10000, '--device-level 2 after the restart');
  const all = expect([1, 2]);
  assertExactlyOnce(db, all, all, 'several filters');
  const levelled = new Set(['t-7/1', 't-7/2']);
  assertExactlyOnce(db2, levelled, levelled, '--device-level 2');
  await stopClean(a, 'ingest with two filters');
  await stopClean(b, 'ingest with --device-level 2');
});

test('the session outlives ingest for --session-expiry seconds, then the broker drops it', async (t) => {
  const dir = tmpDir(t);
  const broker = await startBroker(t);
  const c = await mqtt.connectAsync(broker.url, { clientId: `dlv-exp-${process.pid}` });
  t.after(() => c.endAsync());
  const run = async (expiry, db, seq) => {
    const id = `dlv-exp-${expiry}-${broker.port}`;
    const args = ['--mqtt', broker.uri, '--history', db, '--client-id', id, '--stats-interval', '0',
      '--session-expiry', `${expiry}`];
    let p = startProc(t, 'telewire-ingest', args);
    await p.waitForLog(/subscribed to devices\/\+\/telemetry/);
    await stopClean(p, `ingest (--session-expiry ${expiry})`);
    // Sent while ingest is away: kept in its session, or not.
    await c.publishAsync('devices/veh-e1/telemetry', JSON.stringify({ ts: T0 + seq, seq, values: { n: seq } }), { qos: 1 });
    if (expiry === 1) await sleep(2500);  // mosquitto looks for expired sessions about once a second
    p = startProc(t, 'telewire-ingest', args);
    await p.waitForLog(/subscribed to devices\/\+\/telemetry/);
    const session = /\(session (new|resumed)\)/.exec(p.output().split('\n').find((l) => l.includes(` as ${id} `)))?.[1];
    if (expiry === 1) await sleep(1000);  // time for a message that should not come
    else await drained(db, 1, 10000, 'the message sent while ingest was away');
    await stopClean(p, `ingest (--session-expiry ${expiry}), again`);
    return { session, stored: seenCount(db) };
  };
  assert.deepEqual(await run(60, path.join(dir, 'a.db'), 1), { session: 'resumed', stored: 1 },
    'within --session-expiry: expected the session resumed and the message sent meanwhile stored');
  assert.deepEqual(await run(1, path.join(dir, 'b.db'), 2), { session: 'new', stored: 0 },
    'past --session-expiry: expected a new session, and the message sent meanwhile gone with the old one');
});

test('start-up: topic filters without a device id, bad share names and a second consumer with one client id are refused', async (t) => {
  const run = (...args) => {
    const r = spawnSync(path.join(BIN, 'telewire-ingest'), ['--mqtt', 'tcp://127.0.0.1:1', ...args],
      { encoding: 'utf8', timeout: 10000 });
    return { code: r.status, err: r.stderr };
  };
  const refused = [
    [['--topic', 'sensors/+/data'], /--topic "sensors\/\+\/data": its topics have no level "devices" .* set --device-level N/],
    [['--topic', 'devices/#'], /--topic "devices\/#": '#' after "devices" also matches the topic "devices" alone/],
    [['--topic', 'devices/+/telemetry,'], /--topic: empty topic filter/],
    [['--topic', 'devices/+/t, devices/+/t'], /"devices\/\+\/t" is given twice/],
    [['--topic', 'devices/x+/t'], /'\+' must stand alone in its level/],
    [['--topic', '$share/g/devices/+/t'], /give the share group with --shared-group/],
    [['--topic', 'sensors/+', '--device-level', '3'], /"sensors\/\+" has 2 level\(s\), but --device-level 3/],
    [['--topic', 'sensors/#', '--device-level', '2'], /'#' at level 2 also matches topics without level 2/],
    [['--shared-group', 'a/b'], /--shared-group "a\/b": a share name must not contain/],
  ];
  for (const [args, re] of refused) {
    const r = run(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: expected exit 2, got ${r.code}:\n${r.err}`);
    assert.match(r.err, re, `${args.join(' ')}`);
  }

  // A shared worker's default client id is per group and host; a second
  // one on this host with the same broker and id refuses to start.
  const broker = await startBroker(t);
  const dir = tmpDir(t);
  const first = startProc(t, 'telewire-ingest', ['--mqtt', broker.uri, '--shared-group', 'g1',
    '--history', path.join(dir, 'h.db'), '--stats-interval', '0']);
  const id = `telewire-ingest-g1-${os.hostname()}`;
  await first.waitForLog(new RegExp(`consuming \\$share/g1/devices/\\+/telemetry from \\S+ as ${id.replace(/[.]/g, '\\.')};`));
  const second = spawnSync(path.join(BIN, 'telewire-ingest'), ['--mqtt', broker.uri, '--shared-group', 'g1',
    '--stats-interval', '0'], { encoding: 'utf8', timeout: 10000 });
  assert.equal(second.status, 1, `a second consumer as ${id}: expected exit 1, got ${second.status}:\n${second.stderr}`);
  assert.ok(second.stderr.includes(`another telewire-ingest on this host (pid ${first.pid}) already consumes from ` +
    `${broker.uri} as client id ${id}`), second.stderr);
  assert.ok(!/session resumed|connected to/.test(second.stderr), 'the second one connected all the same');
  await stopClean(first, 'the first shared worker');
});

test('kill -9 while a group commit is pending: the journal is stored at the next start', async (t) => {
  const dir = tmpDir(t);
  const db = path.join(dir, 'history.db');
  const broker = await startBroker(t);
  const mport = await freePort();
  const id = `dlv-journal-${broker.port}`;
  const results = await watchResults(t, broker.url);
  // A commit only after a minute or a million messages, not when they stop
  // coming: all of them wait in the journal.
  let ingest = startProc(t, 'telewire-ingest', ingestArgs(broker, db, id, mport,
    ['--commit-ms', '60000', '--commit-max', '1000000', '--commit-idle-ms', '0']));
  await ingest.waitForLog(/subscribed to devices\/\+\/telemetry \(QoS 1\)/);
  const msgs = stream('veh-j', 50);
  const sent = new Set(msgs.map(key));
  const { acked, failed } = await publish(broker.url, msgs, { rate: 5000 });
  assert.deepEqual(failed, []);
  assert.equal(acked.size, msgs.length);
  await waitFor(async () => (await metrics(mport)).get('telewire_ingest_received_total') === msgs.length,
    20000, `ingest to receive all ${msgs.length} messages`);
  await waitFor(() => results.size === msgs.length, 10000, 'their results');
  const m = await metrics(mport);
  assert.equal(m.get('telewire_ingest_stored_total'), 0, 'nothing committed yet');
  assert.equal(seenCount(db), 0, 'nothing committed yet');
  await ingest.stop('SIGKILL');
  const journal = `${db}.${id}.journal`;
  assert.ok(fs.existsSync(journal), `the journal ${journal} is there`);

  ingest = startProc(t, 'telewire-ingest', ingestArgs(broker, db, id, mport));
  await ingest.waitForLog(new RegExp(`journal \\S+: ${msgs.length} messages replayed`));
  await drained(db, msgs.length, 10000, 'after the replay');
  assertExactlyOnce(db, sent, sent, 'journal replay');
  const after = await metrics(mport);
  assert.equal(after.get('telewire_ingest_replayed_total'), msgs.length);
  assert.equal(after.get('telewire_ingest_stored_total'), msgs.length);
  // Its rollup pass (the first runs after the first commit) brings every
  // device's minute buckets up to date: 50 values of n each.
  const q = (sql) => execFileSync('sqlite3', [db, sql]).toString().trim();
  await waitFor(() => q('SELECT count(*) FROM rollup_pending') === '0', 10000, 'the rollup pass');
  assert.equal(q("SELECT count(DISTINCT r.device_id) || ' ' || min(t) || ' ' || max(t) FROM (SELECT device_id, " +
    "sum(n) AS t FROM rollups WHERE width = 60000 AND key_id = (SELECT id FROM keys WHERE name = 'n') " +
    'GROUP BY device_id) AS r'), `${DEVICES} 50 50`);
  assert.ok((await metrics(mport)).get('telewire_ingest_rollup_buckets_total') > 0);
  await stopClean(ingest, 'ingest after the replay');
  // Emptied once stored: a start after it has nothing to replay.
  ingest = startProc(t, 'telewire-ingest', ingestArgs(broker, db, id, mport));
  await ingest.waitForLog(/subscribed to devices\/\+\/telemetry \(QoS 1\)/);
  assert.doesNotMatch(ingest.output(), /replayed|previous run left/);
  const twice = [...results].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
  assert.equal(twice.length, 0, `results published again by the replay: ${few(twice)}`);
  await stopClean(ingest, 'the ingest after that');
});

test('a burst is committed when it ends (--commit-idle-ms), not --commit-ms later', async (t) => {
  const dir = tmpDir(t);
  const db = path.join(dir, 'history.db');
  const broker = await startBroker(t);
  const mport = await freePort();
  const ingest = startProc(t, 'telewire-ingest', ingestArgs(broker, db, `dlv-idle-${broker.port}`, mport,
    ['--commit-ms', '60000']));
  await ingest.waitForLog(/subscribed to devices\/\+\/telemetry \(QoS 1\)/);
  const msgs = stream('veh-i', 20);
  const { acked, failed } = await publish(broker.url, msgs, { rate: 5000 });
  assert.deepEqual(failed, []);
  assert.equal(acked.size, msgs.length);
  // A minute of --commit-ms is far past this wait: only the idle rule commits.
  await waitFor(async () => (await metrics(mport)).get('telewire_ingest_stored_total') === msgs.length,
    5000, `all ${msgs.length} messages committed once the burst ended`);
  assert.equal(seenCount(db), msgs.length);
  await stopClean(ingest, 'ingest');
});

test('history locked past the busy timeout: messages wait in the journal and are stored after, none lost', async (t) => {
  const dir = tmpDir(t);
  const db = path.join(dir, 'history.db');
  const broker = await startBroker(t);
  const mport = await freePort();
  const id = `dlv-locked-${broker.port}`;
  const results = await watchResults(t, broker.url);
  const ingest = startProc(t, 'telewire-ingest', ingestArgs(broker, db, id, mport));
  await ingest.waitForLog(/subscribed to devices\/\+\/telemetry \(QoS 1\)/);
  // Another writer holds the database for 7 s, longer than ingest's 5 s busy timeout.
  const locker = spawn('sqlite3', [db], { stdio: ['pipe', 'ignore', 'pipe'] });
  t.after(() => locker.kill('SIGKILL'));
  locker.stdin.write('BEGIN IMMEDIATE;\nCREATE TABLE IF NOT EXISTS lock_probe(x);\n');
  await sleep(300);
  const msgs = stream('veh-l', 20);
  const sent = new Set(msgs.map(key));
  const { acked, failed } = await publish(broker.url, msgs, { rate: 2000 });
  assert.deepEqual(failed, []);
  assert.equal(acked.size, msgs.length);
  await ingest.waitForLog(/history: cannot begin a transaction: database is locked/, 15000);
  assert.equal(seenCount(db), 0);
  await sleep(7000 - 300);
  locker.stdin.end('ROLLBACK;\n.quit\n');
  await drained(db, msgs.length, 30000, 'after the lock is gone');
  assertExactlyOnce(db, sent, sent, 'locked database');
  await waitFor(() => results.size === msgs.length, 10000,
    `a result for each message (has ${results.size} of ${msgs.length})`);
  const twice = [...results].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
  assert.equal(twice.length, 0, `results published twice: ${few(twice)}`);
  const m = await metrics(mport);
  assert.ok(m.get('telewire_ingest_db_errors_total') >= 1, 'the failed begin is counted');
  assert.equal(m.get('telewire_ingest_stored_total'), msgs.length);
  await stopClean(ingest, 'ingest after the lock');
});
