// metrics.test.mjs -- /metrics of telewire-ingest (its own listener) and telewire-hub, in Prometheus text format
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import mqtt from 'mqtt';
import { freePort, startBroker, startProc, tmpDir, waitFor } from '../harness/index.mjs';

/** name{labels} -> value, from Prometheus text; throws on a malformed line. */
function parse(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\d+(?:\.\d+)?)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    out.set(m[1], Number(m[2]));
  }
  return out;
}

async function scrape(url) {
  const r = await fetch(url);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  return parse(await r.text());
}

test('ingest and hub count what they did, by reason', async (t) => {
  const dir = tmpDir(t);
  const broker = await startBroker(t);
  const mport = await freePort();
  const hport = await freePort();
  const hub = startProc(t, 'telewire-hub', ['--listen', `127.0.0.1:${hport}`, '--mqtt', broker.uri]);
  const ingest = startProc(t, 'telewire-ingest', ['--mqtt', broker.uri, '--listen', `127.0.0.1:${mport}`,
    '--history', path.join(dir, 'h.db'), '--client-id', `metrics-test-${broker.port}`, '--max-payload', '2000']);
  await ingest.waitForLog(/metrics at http:\/\/127\.0\.0\.1/);
  await ingest.waitForLog(/consuming devices/);
  await hub.waitForLog(/connected to tcp:/);

  const pub = mqtt.connect(broker.url);
  await new Promise((resolve, reject) => { pub.once('connect', resolve); pub.once('error', reject); });
  t.after(() => pub.endAsync());
  const ts = Date.now();
  for (let i = 0; i < 5; i++) {
    await pub.publishAsync('devices/veh-9001/telemetry', JSON.stringify({ ts: ts + i, seq: i, values: { t: i } }), { qos: 1 });
  }
  await pub.publishAsync('devices/veh-9001/telemetry', 'not json', { qos: 1 });
  await pub.publishAsync('devices/veh-9001/telemetry', JSON.stringify({ values: { s: 'x'.repeat(3000) } }), { qos: 1 });

  const url = `http://127.0.0.1:${mport}/metrics`;
  const m = await waitFor(async () => {
    const got = await scrape(url);
    // stored counts at the group commit, up to --commit-ms after the rest
    return got.get('telewire_ingest_received_total') === 7 &&
      got.get('telewire_ingest_stored_total') === 5 ? got : null;
  }, 10000, 'ingest to count 7 messages and store 5');
  assert.equal(m.get('telewire_ingest_rejected_total{reason="malformed"}'), 1);
  assert.equal(m.get('telewire_ingest_rejected_total{reason="limit"}'), 1);
  assert.equal(m.get('telewire_ingest_rejected_total{reason="other"}'), 0);
  assert.equal(m.get('telewire_ingest_stored_total'), 5);
  // when history last committed: Unix seconds, after the messages went out
  const committed = m.get('telewire_ingest_last_commit_timestamp_seconds');
  assert.ok(committed * 1000 >= ts - 1000 && committed * 1000 <= Date.now() + 1000, `${committed}`);
  assert.equal(m.get('telewire_ingest_connected'), 1);
  assert.ok(m.has('telewire_ingest_queue_depth'));
  assert.equal(m.get('telewire_ingest_dedup_errors_total'), 0);
  assert.ok(m.has('telewire_ingest_dedup_lookups_total'));
  assert.equal((await fetch(`http://127.0.0.1:${mport}/other`)).status, 404);

  const hm = await waitFor(async () => {
    const got = await scrape(`http://127.0.0.1:${hport}/metrics`);
    return got.get('telewire_hub_envelopes_total') >= 5 ? got : null;
  }, 10000, 'the hub to count the results');
  assert.equal(hm.get('telewire_hub_connections'), 0);
  assert.equal(hm.get('telewire_hub_envelopes_bad_total'), 0);
});
