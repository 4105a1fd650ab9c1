// history.test.mjs -- telemetry through mosquitto and telewire-ingest into history, read back by GET /api/history and telewire-history
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import mqtt from 'mqtt';
import { BIN, freePort, startBroker, startProc, tmpDir, waitFor } from '../harness/index.mjs';

const KEY = 'history-test-key';
const DAY = 86400000;
const MIN = 60000;

function jwt(claims, key = KEY) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const data = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${data}.${crypto.createHmac('sha256', key).update(data).digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);

/** telewire-history with --format json; returns the parsed output. */
function cli(db, ...args) {
  const out = execFileSync(path.join(BIN, 'telewire-history'), ['--db', db, ...args, '--format', 'json'],
    { timeout: 20000 });
  return JSON.parse(out.toString());
}

/** The known values of device hist-1 at second i (seconds 60..89 are missing). */
const temp = (i) => 20 + ((i * 7) % 13) * 0.5 - (i % 3) * 0.25;
const seconds = [...Array(180).keys()].filter((i) => i < 60 || i >= 90);

/** Aggregates computed here, bucket by bucket, as [{ts, value}] without empty buckets. */
function expected(points, start, end, interval, agg) {
  const out = [];
  for (let lo = start; lo < end; lo += interval) {
    const vs = points.filter((p) => p.ts >= lo && p.ts < Math.min(lo + interval, end)).map((p) => p.value);
    if (!vs.length) continue;
    const num = vs.map((v) => (typeof v === 'boolean' ? Number(v) : v)).filter((v) => typeof v === 'number');
    const sum = num.reduce((a, b) => a + b, 0);
    const value = { COUNT: vs.length, SUM: sum, AVG: sum / num.length, MIN: Math.min(...num), MAX: Math.max(...num) }[agg];
    if (agg === 'COUNT' || num.length) out.push({ ts: lo, value });
  }
  return out;
}

function assertClose(got, want, what) {
  assert.equal(got.length, want.length, `${what}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
  got.forEach((g, i) => {
    assert.equal(g.ts, want[i].ts, `${what}: ts of point ${i}`);
    assert.ok(Math.abs(g.value - want[i].value) < 1e-9, `${what}: point ${i}: ${g.value} vs ${want[i].value}`);
  });
}

async function startHub(t, broker, extra) {
  const port = await freePort();
  const hub = startProc(t, 'telewire-hub', ['--listen', `127.0.0.1:${port}`, '--mqtt', broker.uri,
    '--access-key', KEY, '--log-level', 'debug', ...extra]);
  await hub.waitForLog(/listening on http:\/\/127\.0\.0\.1/);
  const base = `http://127.0.0.1:${port}`;
  const token = jwt({ aud: `${base}/api/history`, exp: now() + 300 });
  /** GET /api/history?query with a token (null: none); resolves {status, body}. */
  const get = async (query, tok = token) => {
    const res = await fetch(`${base}/api/history?${query}`, {
      headers: tok ? { Authorization: `Bearer ${tok}` } : {},
      signal: AbortSignal.timeout(10000),
    });
    return { status: res.status, body: await res.json(), auth: res.headers.get('www-authenticate') };
  };
  return { hub, base, get };
}

test('telemetry stored by ingest is served by /api/history and telewire-history; bad requests get specific answers', async (t) => {
  const dir = tmpDir(t);
  const db = path.join(dir, 'history.db');
  const broker = await startBroker(t);
  const ingest = startProc(t, 'telewire-ingest', ['--mqtt', broker.uri, '--history', db,
    '--client-id', `history-test-${broker.port}`, '--stats-interval', '0']);
  await ingest.waitForLog(/consuming /, 15000);
  const h = await startHub(t, broker, ['--history', db]);

  // Known telemetry: hist-1 at 1 Hz for 3 minutes with a 30 s gap; hist-old 3 days ago.
  const T0 = Math.floor((Date.now() - 2 * 3600000) / MIN) * MIN;
  const TOLD = Date.now() - 3 * DAY;
  const pub = await mqtt.connectAsync(broker.url, { clientId: `history-pub-${process.pid}` });
  t.after(() => pub.endAsync());
  const recs = seconds.map((i) => ({ ts: T0 + i * 1000, seq: i + 1,
    values: { temp: temp(i), on: i % 4 === 0, state: i % 2 ? 'a' : 'b' } }));
  for (let i = 0; i < recs.length; i += 50) {
    await pub.publishAsync('devices/hist-1/telemetry', JSON.stringify(recs.slice(i, i + 50)), { qos: 1 });
  }
  await pub.publishAsync('devices/hist-1/telemetry', JSON.stringify(recs.slice(0, 10)), { qos: 1 }); // redelivered
  await pub.publishAsync('devices/hist-old/telemetry', JSON.stringify(
    [...Array(10).keys()].map((i) => ({ ts: TOLD + i * 1000, seq: i + 1, values: { temp: i } }))), { qos: 1 });
  await waitFor(() => {
    const a = cli(db, 'query', '--device', 'hist-1', '--keys', 'temp', '--agg', 'count');
    const b = cli(db, 'query', '--device', 'hist-old', '--keys', 'temp', '--agg', 'count');
    return a[0]?.value === seconds.length && b[0]?.value === 10;
  }, 15000, `${seconds.length} rows of hist-1 and 10 of hist-old in history`);

  const points = (key) => recs.map((r) => ({ ts: r.ts, value: r.values[key] }));
  const range = `device=hist-1&startTs=${T0}&endTs=${T0 + 5 * MIN}`;

  await t.test('values, newest first by default, ThingsBoard\'s limit of 100', async () => {
    const r = await h.get(`${range}&keys=temp,on,state,nothing`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(Object.keys(r.body), ['temp', 'on', 'state', 'nothing']);
    assert.equal(r.body.temp.length, 100);
    assert.deepEqual(r.body.temp, points('temp').reverse().slice(0, 100));
    assert.deepEqual(r.body.on, points('on').reverse().slice(0, 100));
    assert.deepEqual(r.body.state, points('state').reverse().slice(0, 100));
    assert.deepEqual(r.body.nothing, []);
    const all = await h.get(`${range}&keys=temp&orderBy=ASC&limit=1000`);
    assert.deepEqual(all.body.temp, points('temp'));
    const half = await h.get(`device=hist-1&keys=temp&startTs=${T0 + 1000}&endTs=${T0 + 3000}&orderBy=ASC`);
    assert.deepEqual(half.body.temp, points('temp').slice(1, 3), 'startTs inclusive, endTs exclusive');
  });

  await t.test('aggregates match values computed here; ts is the start of each interval', async () => {
    for (const agg of ['AVG', 'MIN', 'MAX', 'SUM', 'COUNT']) {
      const r = await h.get(`${range}&keys=temp,on&interval=${MIN}&agg=${agg}&orderBy=ASC`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assertClose(r.body.temp, expected(points('temp'), T0, T0 + 5 * MIN, MIN, agg), `${agg} temp`);
      assertClose(r.body.on, expected(points('on'), T0, T0 + 5 * MIN, MIN, agg), `${agg} on`);
      assert.equal(r.body.temp.length, 3, 'the two empty minutes give no point');
    }
    const odd = await h.get(`device=hist-1&keys=temp&startTs=${T0 + 45000}&endTs=${T0 + 170500}&interval=40000&agg=AVG`);
    assertClose(odd.body.temp, expected(points('temp'), T0 + 45000, T0 + 170500, 40000, 'AVG').reverse(), 'unaligned, DESC');
    const strings = await h.get(`${range}&keys=state&interval=${MIN}&agg=AVG`);
    assert.deepEqual(strings.body, { state: [] }, 'strings have no average');
    const whole = await h.get(`${range}&keys=temp&agg=MAX`);
    assertClose(whole.body.temp, [{ ts: T0, value: Math.max(...seconds.map(temp)) }], 'no interval: one bucket');
  });

  await t.test('telewire-history gives the same aggregates', () => {
    const rows = cli(db, 'query', '--device', 'hist-1', '--keys', 'temp', '--start', `${T0}`,
      '--end', `${T0 + 5 * MIN - 1}`, '--interval', `${MIN}`, '--agg', 'avg');
    assertClose(rows.map((r) => ({ ts: r.ts, value: r.value })),
      expected(points('temp'), T0, T0 + 5 * MIN, MIN, 'AVG'), 'CLI AVG');
    assert.ok(rows.every((r) => r.key === 'temp'));
    const csv = execFileSync(path.join(BIN, 'telewire-history'), ['--db', db, 'query', '--device', 'hist-1',
      '--keys', 'temp', '--start', `${T0}`, '--end', `${T0 + 5 * MIN - 1}`, '--interval', `${MIN}`,
      '--agg', 'count', '--format', 'csv', '--order', 'desc'], { timeout: 20000 }).toString();
    assert.equal(csv, `key,ts,value\n"temp",${T0 + 2 * MIN},60\n"temp",${T0 + MIN},30\n"temp",${T0},60\n`);
    assert.deepEqual(cli(db, 'devices'), ['hist-1', 'hist-old']);
    assert.deepEqual(cli(db, 'keys', '--device', 'hist-1'), ['on', 'state', 'temp']);
    const bad = spawnSync(path.join(BIN, 'telewire-history'), ['--db', db, 'query', '--device', 'hist-1',
      '--keys', 'temp', '--interval', '1', '--agg', 'avg'], { timeout: 20000, encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--interval: \[--start, --end\] spans \d+ intervals of 1 ms, more than the cap of 10000 per query/);
  });

  await t.test('a dashboard\'s client token from negotiate is accepted', async () => {
    const neg = await fetch(`${h.base}/api/negotiate?hub=telemetry`, { method: 'POST', signal: AbortSignal.timeout(10000) });
    const { accessToken } = await neg.json();
    const r = await h.get(`${range}&keys=temp&limit=1`, accessToken);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.temp, points('temp').slice(-1));
  });

  await t.test('each bad parameter and token gets its status and message', async () => {
    const ok = `device=hist-1&keys=temp&startTs=${T0}&endTs=${T0 + MIN}`;
    const cases = [
      [`keys=temp&startTs=0&endTs=1`, 400, 'device is required (a device id).'],
      [`device=%FF&keys=temp&startTs=0&endTs=1`, 400, 'device must be UTF-8 text without control characters.'],
      [`device=${'d'.repeat(129)}&keys=temp&startTs=0&endTs=1`, 400, 'device must be 1 to 128 bytes, got 129.'],
      [`device=hist-1&startTs=0&endTs=1`, 400, 'keys is required (comma-separated keys, e.g. keys=temp,hum).'],
      [`device=hist-1&keys=temp,,on&startTs=0&endTs=1`, 400, 'keys: key 2 is empty.'],
      [`device=hist-1&keys=temp,temp&startTs=0&endTs=1`, 400, 'keys: "temp" is listed twice.'],
      [`device=hist-1&keys=${[...Array(17).keys()].map((i) => `k${i}`).join(',')}&startTs=0&endTs=1`, 400, 'keys: at most 16 keys per query.'],
      [`device=hist-1&keys=temp&endTs=1`, 400, 'startTs is required (milliseconds since the epoch).'],
      [`device=hist-1&keys=temp&startTs=abc&endTs=1`, 400, 'startTs must be a whole number of milliseconds since the epoch (0 to 9200000000000000000), got "abc".'],
      [`device=hist-1&keys=temp&startTs=0`, 400, 'endTs is required (milliseconds since the epoch).'],
      [`device=hist-1&keys=temp&startTs=0&endTs=1.5`, 400, 'endTs must be a whole number of milliseconds since the epoch (0 to 9200000000000000000), got "1.5".'],
      [`device=hist-1&keys=temp&startTs=10&endTs=10`, 400, 'endTs (10) must be greater than startTs (10): the range is [startTs, endTs).'],
      [`${ok}&agg=MEDIAN`, 400, 'agg must be NONE, AVG, MIN, MAX, SUM or COUNT, got "MEDIAN".'],
      [`${ok}&agg=AVG&interval=0`, 400, 'interval must be a positive integer number of milliseconds, got "0".'],
      [`${ok}&agg=AVG&interval=1s`, 400, 'interval must be a positive integer number of milliseconds, got "1s".'],
      [`device=hist-1&keys=temp&startTs=0&endTs=${T0}&agg=AVG&interval=1000`, 400,
        `interval: (endTs - startTs) / interval is ${Math.ceil(T0 / 1000)} intervals, more than the cap of 10000 per query; use a longer interval or a shorter range.`],
      [`${ok}&limit=0`, 400, 'limit must be a whole number from 1 to 50000, got "0".'],
      [`${ok}&limit=50001`, 400, 'limit must be a whole number from 1 to 50000, got "50001".'],
      [`${ok}&orderBy=NEWEST`, 400, 'orderBy must be ASC or DESC, got "NEWEST".'],
      [`device=nobody&keys=temp&startTs=0&endTs=1`, 404, 'Unknown device "nobody".'],
    ];
    for (const [query, status, error] of cases) {
      const r = await h.get(query);
      assert.equal(r.status, status, `${query}: ${JSON.stringify(r.body)}`);
      assert.deepEqual(r.body, { error }, query);
    }
    const tokens = [
      [null, 'Unauthorized: no access token (send Authorization: Bearer <JWT>)'],
      [jwt({ aud: `${h.base}/api/history`, exp: now() + 60 }, 'another-key'), 'Unauthorized: token signature does not match'],
      [jwt({ aud: `${h.base}/api/history`, exp: now() - 120 }), 'Unauthorized: token is expired'],
      [jwt({ aud: `${h.base}/api/v1/hubs/telemetry`, exp: now() + 60 }),
        `Unauthorized: token audience (aud) is neither ${h.base}/api/history nor this hub's client URL`],
      [jwt({ aud: `${h.base}/client/?hub=other`, exp: now() + 60 }),
        `Unauthorized: token audience (aud) is neither ${h.base}/api/history nor this hub's client URL`],
    ];
    for (const [tok, error] of tokens) {
      const r = await h.get(ok, tok);
      assert.equal(r.status, 401, `${error}: ${JSON.stringify(r.body)}`);
      assert.deepEqual(r.body, { error });
      assert.equal(r.auth, 'Bearer');
    }
    // Odd bytes and methods never hurt the hub.
    for (const q of ['device=%00&keys=%00&startTs=0&endTs=1', 'keys=%2C%2C&device=x&startTs=0&endTs=1',
      `device=hist-1&keys=temp&startTs=0&endTs=9200000000000000000&agg=COUNT&interval=920000000000000`]) {
      const r = await h.get(q);
      assert.ok([200, 400].includes(r.status), `${q}: ${r.status}`);
    }
    const post = await fetch(`${h.base}/api/history?${ok}`, { method: 'POST', signal: AbortSignal.timeout(10000) });
    assert.equal(post.status, 405);
    assert.equal((await h.get(ok)).status, 200, 'still serving');
  });

  await t.test('a hub without --history answers 503', async () => {
    const plain = await startHub(t, broker, []);
    const r = await plain.get(`device=hist-1&keys=temp&startTs=0&endTs=1`);
    assert.equal(r.status, 503);
    assert.deepEqual(r.body, { error: 'History is not configured on this hub: start telewire-hub with --history FILE.' });
  });

  await t.test('rollup brings the rollups up to date; the aggregates stay the same', async () => {
    const hist = (...args) => execFileSync(path.join(BIN, 'telewire-history'), ['--db', db, ...args],
      { timeout: 30000 }).toString();
    // hist-1's 3 minutes lie in one or two hours, hist-old's 10 s too
    assert.match(hist('rollup'), /^rolled up 2 devices: [2-4] device-hours, \d+ buckets written in \d+ ms; nothing is pending\n$/);
    assert.match(hist('rollup'), /^rolled up 0 devices: 0 device-hours, 0 buckets written/);
    for (const agg of ['AVG', 'MIN', 'MAX', 'SUM', 'COUNT']) {
      for (const key of ['temp', 'on', 'state']) {
        const rows = cli(db, 'query', '--device', 'hist-1', '--keys', key, '--start', `${T0}`,
          '--end', `${T0 + 5 * MIN - 1}`, '--interval', `${MIN}`, '--agg', agg);
        assertClose(rows, expected(points(key), T0, T0 + 5 * MIN, MIN, agg), `${key} ${agg} from rollups`);
      }
    }
    const r = await h.get(`${range}&keys=temp&agg=AVG&interval=${2 * MIN}&orderBy=ASC`);
    assertClose(r.body.temp, expected(points('temp'), T0, T0 + 5 * MIN, 2 * MIN, 'AVG'), 'hub AVG from rollups');
  });

  await t.test('retain deletes values older than --days, keeps rollups longer, then deletes them too', async () => {
    const kept = execFileSync(path.join(BIN, 'telewire-history'), ['--db', db, 'retain', '--days', '2'],
      { timeout: 30000 }).toString();
    assert.match(kept, /^deleted 10 values and 10 duplicate marks older than \d+ \(ms since the epoch\), and 0 rollup buckets that end by \d+; removed 0 devices left without data\n/);
    // the values of hist-old are gone, its aggregates are not
    assert.deepEqual(cli(db, 'devices'), ['hist-1', 'hist-old']);
    assert.deepEqual(cli(db, 'query', '--device', 'hist-old', '--keys', 'temp'), []);
    assert.deepEqual(cli(db, 'keys', '--device', 'hist-old'), ['temp']);
    const old = cli(db, 'query', '--device', 'hist-old', '--keys', 'temp', '--agg', 'sum');
    assert.deepEqual(old.map((p) => p.value), [45]);
    const oldHub = await h.get(`device=hist-old&keys=temp&startTs=0&endTs=${Date.now()}&agg=COUNT`);
    assert.equal(oldHub.status, 200);
    assert.deepEqual(oldHub.body.temp.map((p) => p.value), [10]);

    const out = execFileSync(path.join(BIN, 'telewire-history'), ['--db', db, 'retain', '--days', '2',
      '--rollup-days', '2'], { timeout: 30000 }).toString();
    assert.match(out, /^deleted 0 values and 0 duplicate marks older than \d+ \(ms since the epoch\), and [2-4] rollup buckets that end by \d+; removed 1 devices left without data\n\d+ free pages stay in the file for new data\n$/);
    assert.deepEqual(cli(db, 'devices'), ['hist-1']);
    const gone = await h.get(`device=hist-old&keys=temp&startTs=0&endTs=${Date.now()}`);
    assert.equal(gone.status, 404);
    const hist1 = await h.get(`${range}&keys=temp&agg=COUNT`);
    assert.deepEqual(hist1.body.temp, [{ ts: T0, value: seconds.length }]);
    // ingest still writes after the deletes
    await pub.publishAsync('devices/hist-1/telemetry', JSON.stringify({ ts: T0 + 4 * MIN, seq: 999, values: { temp: 7 } }), { qos: 1 });
    await waitFor(async () => (await h.get(`${range}&keys=temp&limit=1`)).body.temp?.[0]?.value === 7, 10000, 'the new value');
  });
  assert.doesNotMatch(h.hub.output(), /AddressSanitizer|runtime error/);
});
