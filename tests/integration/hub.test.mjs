// hub.test.mjs -- telewire-hub end to end: official @microsoft/signalr client, raw WebSockets, MQTT backplane
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import * as signalR from '@microsoft/signalr';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { BIN, freePort, startBroker, startProc, tmpDir, waitFor, sleep } from '../harness/index.mjs';

const KEY = 'integration-test-key';
const RS = '\x1e';

/** Starts a broker and a hub on free ports; resolves when the hub is subscribed. */
async function startHub(t, extra = []) {
  const broker = await startBroker(t);
  const port = await freePort();
  const hub = startProc(t, 'telewire-hub', [
    '--listen', `127.0.0.1:${port}`, '--mqtt', broker.uri, '--access-key', KEY, ...extra]);
  await hub.waitForLog(/listening on http:\/\/127\.0\.0\.1/);
  await hub.waitForLog(/connected to tcp:/);
  const pub = mqtt.connect(broker.url);
  await new Promise((resolve, reject) => { pub.once('connect', resolve); pub.once('error', reject); });
  t.after(() => pub.endAsync());
  // A crash right after subscribing would otherwise show up as "fetch failed".
  const gone = await Promise.race([hub.exited, sleep(150).then(() => null)]);
  if (gone) throw new Error(`telewire-hub exited early (${JSON.stringify(gone)}):\n${hub.output()}`);
  const base = `http://127.0.0.1:${port}`;
  const publish = (payload) => pub.publishAsync('telewire/hub/telemetry/test',
    typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 });
  return { broker, port, hub, base, publish };
}

function jwt(claims, key = KEY, header = { alg: 'HS256', typ: 'JWT' }) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const data = `${b64(header)}.${b64(claims)}`;
  return `${data}.${crypto.createHmac('sha256', key).update(data).digest('base64url')}`;
}

/** The official client, through /api/negotiate and its redirect, WebSockets only. */
async function officialClient(t, base, query = '') {
  const conn = new signalR.HubConnectionBuilder()
    .withUrl(`${base}/api?hub=telemetry${query}`, { transport: signalR.HttpTransportType.WebSockets })
    .configureLogging(signalR.LogLevel.Warning)
    .build();
  const got = [];
  for (const m of ['telemetry', 'alert', 'probe', 'done']) conn.on(m, (...args) => { got.push([m, ...args]); });
  await conn.start();
  t.after(() => conn.stop());
  return { conn, got };
}

/** Publishes probes until every given client has seen one (the subscription is live). */
async function waitSubscribed(h, clients) {
  let n = 0;
  await waitFor(async () => {
    await h.publish({ target: 'all', method: 'probe', args: [++n] });
    await sleep(100);
    return clients.every((c) => c.got.some(([m]) => m === 'probe'));
  }, 10000, 'a probe through the backplane');
  for (const c of clients) c.got.length = 0;
}

/** A raw `ws` client: negotiate by hand, then collect records (and the close). */
async function rawClient(t, base, { token, handshake = true } = {}) {
  if (!token) {
    const r = await fetch(`${base}/api/negotiate?hub=telemetry`, { method: 'POST' });
    token = (await r.json()).accessToken;
  }
  const n = await fetch(`${base}/client/negotiate?hub=telemetry&negotiateVersion=1`,
    { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
  assert.equal(n.status, 200);
  const { connectionToken } = await n.json();
  const ws = new WebSocket(`${base.replace('http', 'ws')}/client/?hub=telemetry&id=${connectionToken}&access_token=${token}`);
  const c = { ws, records: [], text: '', closed: null, raw: [] };
  ws.on('message', (data) => {
    c.raw.push(data.toString());
    c.text += data.toString();
    let i;
    while ((i = c.text.indexOf(RS)) >= 0) {
      c.records.push(JSON.parse(c.text.slice(0, i)));
      c.text = c.text.slice(i + 1);
    }
  });
  ws.on('close', (code, reason) => { c.closed = { code, reason: reason.toString() }; });
  ws.on('error', () => {});
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  t.after(() => ws.terminate());
  if (handshake) {
    ws.send(`{"protocol":"json","version":1}${RS}`);
    await waitFor(() => c.records.length >= 1, 5000, 'the handshake response');
    assert.deepEqual(c.records.shift(), {});
  }
  return c;
}

const invocations = (c, method) => c.records.filter((r) => r.type === 1 && r.target === method);

test('official SignalR client: groups, users, connections, all; bad envelopes do not stop the stream', async (t) => {
  const h = await startHub(t);
  const a = await officialClient(t, h.base);
  const b = await officialClient(t, h.base);
  const bob = await officialClient(t, h.base, '&userId=bob');
  await a.conn.invoke('JoinGroup', 'fleet');
  await bob.conn.invoke('JoinGroup', 'fleet');
  await bob.conn.invoke('LeaveGroup', 'fleet');
  // Any other method goes upstream over MQTT with who sent it; its Completion follows the broker's ack.
  const up = mqtt.connect(h.broker.url);
  await new Promise((resolve, reject) => { up.once('connect', resolve); up.once('error', reject); });
  t.after(() => up.endAsync());
  const ups = [];
  up.on('message', (topic, payload) => ups.push([topic, JSON.parse(payload.toString())]));
  await up.subscribeAsync('telewire/upstream/#', { qos: 1 });
  assert.equal(await a.conn.invoke('Report', 1, { x: 2 }), null);
  await waitFor(() => ups.length === 1, 5000, 'the upstream message');
  assert.equal(ups[0][0], 'telewire/upstream/telemetry/Report');
  const { user, invocationId, ...rest } = ups[0][1];
  assert.deepEqual(rest, { hub: 'telemetry', target: 'Report', arguments: [1, { x: 2 }],
    connectionId: a.conn.connectionId });
  assert.match(user, /^anon-/);
  assert.ok(invocationId);
  await assert.rejects(a.conn.invoke('bad/name', 1), /Method names are 1-128 bytes without/);
  await waitSubscribed(h, [a, b, bob]);

  await h.publish({ target: 'group', name: 'fleet', method: 'telemetry', args: [{ n: 1 }], key: 'veh-1' });
  await h.publish('this is not json');
  await h.publish([
    { target: 'group', name: 'other', method: 'telemetry', args: [{ n: 'other' }] },
    { target: 'nowhere', method: 'telemetry', args: [] },
    { target: 'group', name: 'fleet', method: 'telemetry', args: [{ n: 2 }] },
    { target: 'group', method: 'telemetry', args: [{ n: 'no name' }] },
    { target: 'all', method: 'alert', args: ['everyone', 3] },
    { target: 'user', name: 'bob', method: 'telemetry', args: [{ n: 'bob' }] },
    { target: 'connection', name: a.conn.connectionId, method: 'telemetry', args: [{ n: 'just a' }] },
    { target: 'all', method: 'telemetry', args: 'not an array' },
  ]);
  await h.publish({ target: 'all', method: 'done', args: [] });
  await waitFor(() => [a, b, bob].every((c) => c.got.some(([m]) => m === 'done')), 10000, 'done on every client');

  assert.deepEqual(a.got, [
    ['telemetry', { n: 1 }], ['telemetry', { n: 2 }], ['alert', 'everyone', 3],
    ['telemetry', { n: 'just a' }], ['done']]);
  assert.deepEqual(b.got, [['alert', 'everyone', 3], ['done']]);
  assert.deepEqual(bob.got, [['alert', 'everyone', 3], ['telemetry', { n: 'bob' }], ['done']]);
  await h.hub.waitForLog(/not valid JSON/);
  await h.hub.waitForLog(/skipped 3 bad envelope\(s\) of 8/);
  await h.hub.waitForLog(/bad\/name refused: Method names are/);

  // Leaving on close: a closed member is gone from its groups, others still get messages.
  await a.conn.stop();
  await h.hub.waitForLog(/connection \S+ closed/);
  await bob.conn.invoke('JoinGroup', 'fleet');
  await h.publish({ target: 'group', name: 'fleet', method: 'telemetry', args: [{ n: 4 }] });
  await waitFor(() => bob.got.some(([, x]) => x && x.n === 4), 5000, 'group message after a member left');
  const health = await (await fetch(`${h.base}/api/v1/health`)).json();
  assert.equal(health.status, 'ok');
  assert.equal(health.connections, 2);
});

test('raw clients sending malformed input are closed with the right error; another keeps receiving', async (t) => {
  const h = await startHub(t);
  const good = await rawClient(t, h.base);
  const watch = { got: [] };
  const keep = setInterval(() => {
    good.records = good.records.filter((r) => (r.type === 1 ? (watch.got.push([r.target, ...r.arguments]), false) : true));
  }, 10);
  t.after(() => clearInterval(keep));
  await waitSubscribed(h, [watch]);

  const badProto = await rawClient(t, h.base, { handshake: false });
  badProto.ws.send(`{"protocol":"xml","version":1}${RS}`);
  const badVersion = await rawClient(t, h.base, { handshake: false });
  badVersion.ws.send(`{"protocol":"json","version":7}${RS}`);
  const garbageHs = await rawClient(t, h.base, { handshake: false });
  garbageHs.ws.send(`hello${RS}`);
  const notJson = await rawClient(t, h.base);
  notJson.ws.send(`{"type":6}${RS}not json${RS}`);
  const noType = await rawClient(t, h.base);
  noType.ws.send(`{"target":"x","arguments":[]}${RS}`);
  const unknownType = await rawClient(t, h.base);
  unknownType.ws.send(`{"type":99}${RS}`);
  const big = await rawClient(t, h.base);
  big.ws.send(`{"type":1,"target":"JoinGroup","arguments":["${'x'.repeat(40000)}"]}${RS}`);
  const bigSplit = await rawClient(t, h.base);
  for (let i = 0; i < 5; i++) bigSplit.ws.send('y'.repeat(8000)); // no separator yet: 40000 bytes

  const closed = [badProto, badVersion, garbageHs, notJson, noType, unknownType, big, bigSplit];
  await waitFor(() => closed.every((c) => c.closed), 10000, 'every bad client to be closed');
  assert.deepEqual(badProto.records, [{ error: "The protocol 'xml' is not supported." }]);
  assert.deepEqual(badVersion.records, [{ error: "The server does not support version 7 of the 'json' protocol." }]);
  assert.match(garbageHs.records[0].error, /not valid JSON/);
  const closeOf = (c) => c.records.find((r) => r.type === 7);
  assert.match(closeOf(notJson).error, /^Invalid message: not valid JSON/);
  assert.match(closeOf(noType).error, /"type" is missing/);
  assert.match(closeOf(unknownType).error, /unknown message type 99/);
  assert.match(closeOf(big).error, /exceeds the maximum size of 32768 bytes/);
  assert.match(closeOf(bigSplit).error, /exceeds the maximum size/);
  for (const c of [notJson, noType, unknownType, big]) assert.equal(invocations(c, 'telemetry').length, 0);
  await h.hub.waitForLog(/bad handshake: The protocol 'xml' is not supported/);

  // Invocations: completions with results or errors, and nothing for a fire-and-forget call.
  good.ws.send(`{"type":1,"invocationId":"1","target":"joingroup","arguments":["fleet"]}${RS}` +
    `{"type":1,"target":"Whatever","arguments":[]}${RS}` +
    `{"type":1,"invocationId":"2","target":"Whatever","arguments":[]}${RS}` +
    `{"type":1,"invocationId":"3","target":"JoinGroup","arguments":[]}${RS}` +
    `{"type":6}${RS}`);
  await waitFor(() => good.records.filter((r) => r.type === 3).length >= 3, 5000, 'three completions');
  const comp = Object.fromEntries(good.records.filter((r) => r.type === 3).map((r) => [r.invocationId, r]));
  good.records.length = 0;
  assert.deepEqual(comp['1'], { type: 3, invocationId: '1', result: null });
  // Other methods go upstream over MQTT; the Completion follows the broker's acknowledgement.
  assert.deepEqual(comp['2'], { type: 3, invocationId: '2', result: null });
  assert.match(comp['3'].error, /one non-empty group name/);

  await h.publish([{ target: 'group', name: 'fleet', method: 'telemetry', args: [1] },
    { target: 'all', method: 'telemetry', args: [2] }]);
  await waitFor(() => watch.got.length >= 2, 5000, 'the good client to keep receiving');
  assert.deepEqual(watch.got, [['telemetry', 1], ['telemetry', 2]]);
  assert.equal(good.closed, null);
});

test('roles: JoinGroup needs webpubsub.joinLeaveGroup (or the group-scoped role)', async (t) => {
  const h = await startHub(t);
  const aud = `http://127.0.0.1:${h.port}/client/?hub=telemetry`;
  const exp = Math.floor(Date.now() / 1000) + 600;
  const none = await rawClient(t, h.base, { token: jwt({ aud, exp, sub: 'u1' }) });
  const scoped = await rawClient(t, h.base, { token: jwt({ aud, exp, sub: 'u2', role: ['webpubsub.joinLeaveGroup.alerts'] }) });
  const join = (c, g, id) => c.ws.send(`{"type":1,"invocationId":"${id}","target":"JoinGroup","arguments":["${g}"]}${RS}`);
  join(none, 'fleet', 'a');
  join(scoped, 'fleet', 'b');
  join(scoped, 'alerts', 'c');
  await waitFor(() => none.records.length >= 1 && scoped.records.length >= 2, 5000, 'completions');
  assert.match(none.records[0].error, /Unauthorized/);
  assert.match(scoped.records.find((r) => r.invocationId === 'b').error, /Unauthorized/);
  assert.deepEqual(scoped.records.find((r) => r.invocationId === 'c'), { type: 3, invocationId: 'c', result: null });
  await h.hub.waitForLog(/JoinGroup 'fleet' refused/);
});

test('tokens: /client/negotiate and the upgrade refuse bad tokens and ids', async (t) => {
  const h = await startHub(t);
  const aud = `http://127.0.0.1:${h.port}/client/?hub=telemetry`;
  const now = Math.floor(Date.now() / 1000);
  const negotiate = (headers = {}, q = '') => fetch(`${h.base}/client/negotiate?hub=telemetry&negotiateVersion=1${q}`, { method: 'POST', headers });
  const bearer = (tok) => ({ Authorization: `Bearer ${tok}` });

  const cases = {
    'no token': await negotiate(),
    garbage: await negotiate(bearer('not.a.token')),
    'wrong key': await negotiate(bearer(jwt({ aud, exp: now + 60 }, 'other-key'))),
    expired: await negotiate(bearer(jwt({ aud, exp: now - 120 }))),
    'nbf in the future': await negotiate(bearer(jwt({ aud, exp: now + 3600, nbf: now + 1800 }))),
    'other hub': await negotiate(bearer(jwt({ aud: `http://127.0.0.1:${h.port}/client/?hub=chat`, exp: now + 60 }))),
    'other host': await negotiate(bearer(jwt({ aud: 'http://evil.example/client/?hub=telemetry', exp: now + 60 }))),
    'alg none': await negotiate(bearer(jwt({ aud, exp: now + 60 }).replace(/^[^.]+/, Buffer.from('{"alg":"none"}').toString('base64url')).replace(/[^.]+$/, ''))),
  };
  for (const [name, r] of Object.entries(cases)) {
    assert.equal(r.status, 401, name);
    assert.match((await r.json()).error, /^Unauthorized/, name);
  }
  const ok = await negotiate({}, `&access_token=${jwt({ aud, exp: now + 60, sub: 'x' })}`);
  assert.equal(ok.status, 200);
  const body = await ok.json();
  assert.equal(body.negotiateVersion, 1);
  assert.ok(body.connectionToken.length >= 22 && body.connectionToken !== body.connectionId);
  assert.deepEqual(body.availableTransports, [
    { transport: 'WebSockets', transferFormats: ['Text', 'Binary'] },
    { transport: 'ServerSentEvents', transferFormats: ['Text'] },
    { transport: 'LongPolling', transferFormats: ['Text', 'Binary'] }]);
  assert.equal((await fetch(`${h.base}/api/negotiate?hub=nope`, { method: 'POST' })).status, 404);
  assert.equal((await fetch(`${h.base}/client/negotiate?hub=nope`, { method: 'POST' })).status, 404);

  // The upgrade: unknown id 404, missing token 401, second socket on one id 409.
  const upgrade = (q) => new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${h.port}/client/?hub=telemetry${q}`);
    ws.on('unexpected-response', (req, res) => { resolve(res.statusCode); ws.terminate(); });
    ws.on('open', () => { resolve(101); });
    ws.on('error', () => {});
    t.after(() => ws.terminate());
  });
  const tok = jwt({ aud, exp: now + 60, sub: 'x' });
  assert.equal(await upgrade(`&id=unknown&access_token=${tok}`), 404);
  assert.equal(await upgrade(`&id=${body.connectionToken}`), 401);
  assert.equal(await upgrade(`&id=${body.connectionToken}&access_token=${jwt({ aud, exp: now + 60, sub: 'y' })}`), 401);
  assert.equal(await upgrade(`&id=${body.connectionToken}&access_token=${tok}`), 101);
  assert.equal(await upgrade(`&id=${body.connectionToken}&access_token=${tok}`), 409);
});

/** One HTTP/1.1 request over a plain socket, so the path reaches the server unnormalized. */
function rawGet(port, target) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () =>
      s.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
    let d = '';
    s.on('data', (c) => { d += c; });
    s.on('end', () => resolve({ status: Number(d.split(' ')[1]), text: d }));
    s.on('error', reject);
  });
}

test('static files, path traversal, CORS and health', async (t) => {
  const dir = tmpDir(t);
  fs.mkdirSync(path.join(dir, 'web', 'js'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'web', 'index.html'), '<h1>hello</h1>');
  fs.writeFileSync(path.join(dir, 'web', 'js', 'app.js'), 'console.log(1)');
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'TOP SECRET');
  fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(dir, 'web', 'link.txt'));
  const h = await startHub(t, ['--web', path.join(dir, 'web')]);

  const index = await fetch(`${h.base}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type'), /^text\/html/);
  assert.equal(await index.text(), '<h1>hello</h1>');
  const js = await fetch(`${h.base}/js/app.js`);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  assert.equal((await fetch(`${h.base}/missing.css`)).status, 404);
  for (const p of ['/../secret.txt', '/js/../../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E%2Fsecret.txt',
    '/js/%2e%2e/%2e%2e/secret.txt', '//etc/passwd', '/link.txt', '/.hidden']) {
    const r = await rawGet(h.port, p);
    assert.ok(r.status === 403 || r.status === 404, `${p} -> ${r.status}`);
    assert.doesNotMatch(r.text, /TOP SECRET|root:/, p);
  }

  const pre = await fetch(`${h.base}/client/negotiate?hub=telemetry`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://app.example', 'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization, x-signalr-user-agent' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), 'http://app.example');
  assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
  assert.match(pre.headers.get('access-control-allow-headers'), /authorization/);
  const neg = await fetch(`${h.base}/api/negotiate?hub=telemetry`, { method: 'POST', headers: { Origin: 'http://app.example' } });
  assert.equal(neg.headers.get('access-control-allow-origin'), 'http://app.example');
  const health = await fetch(`${h.base}/api/v1/health`);
  assert.equal(health.status, 200);
  assert.equal((await health.json()).status, 'ok');

  // The default web root is the source tree's web/, with the client library from npm.
  const h2 = await startHub(t);
  const lib = await fetch(`${h2.base}/node_modules/@microsoft/signalr/dist/browser/signalr.min.js`);
  assert.equal(lib.status, 200);
  assert.match(lib.headers.get('content-type'), /^text\/javascript/);
});

test('keep-alive pings, client timeout and handshake timeout', async (t) => {
  const h = await startHub(t, ['--keepalive', '0.3', '--client-timeout', '1.5', '--handshake-timeout', '0.5']);
  const silent = await rawClient(t, h.base);
  const mute = await rawClient(t, h.base, { handshake: false });
  await waitFor(() => mute.closed, 3000, 'the handshake timeout');
  assert.deepEqual(mute.records, []);
  await waitFor(() => silent.records.some((r) => r.type === 6), 2000, 'a keep-alive ping');
  await waitFor(() => silent.closed, 5000, 'the client timeout');
  const close = silent.records.find((r) => r.type === 7);
  assert.match(close.error, /Server timeout elapsed/);
  await h.hub.waitForLog(/closed .*client timeout/);
  await h.hub.waitForLog(/closed .*handshake timeout/);
});

test('slow consumer: oldest messages dropped, then closed; others unaffected', async (t) => {
  const h = await startHub(t, ['--max-queue', '8', '--max-queue-kib', '64']);
  const slow = await rawClient(t, h.base);
  const fast = await rawClient(t, h.base);
  const watch = { got: [] };
  const keep = setInterval(() => {
    for (const r of fast.records.splice(0)) if (r.type === 1) watch.got.push([r.target, ...r.arguments]);
  }, 10);
  t.after(() => clearInterval(keep));
  await waitSubscribed(h, [watch]);
  slow.ws._socket.pause(); // stops reading: the kernel buffers fill, then the hub's queue
  const blob = 'z'.repeat(32 * 1024);
  for (let i = 0; i < 800; i++) await h.publish({ target: 'all', method: 'telemetry', args: [i, blob] });
  await waitFor(() => watch.got.length >= 800, 30000, 'the fast client to get all 800');
  assert.deepEqual(watch.got.map(([, i]) => i), [...Array(800).keys()]);
  await h.hub.waitForLog(/closed .*slow consumer.*dropped/, 10000);
});

test('SIGTERM: clients get a Close, the process exits 0', async (t) => {
  const h = await startHub(t);
  const c = await rawClient(t, h.base);
  const r = await h.hub.stop('SIGTERM');
  assert.equal(r.code, 0);
  await waitFor(() => c.closed, 3000, 'the socket to close');
  assert.deepEqual(c.records.find((x) => x.type === 7), { type: 7, error: 'Server is shutting down.', allowReconnect: true });
  assert.match(h.hub.output(), /stopped/);
});

test('bad flags and config keys exit 2 with a clear message', async (t) => {
  const run = async (args) => {
    const p = startProc(t, 'telewire-hub', args);
    const r = await p.exited;
    return { code: r.code, out: p.output() };
  };
  let r = await run(['--no-such-flag']);
  assert.equal(r.code, 2);
  assert.match(r.out, /no-such-flag/);
  r = await run(['--listen', 'nonsense']);
  assert.equal(r.code, 2);
  assert.match(r.out, /--listen/);
  r = await run(['--hub', 'a/b']);
  assert.equal(r.code, 2);
  r = await run(['--log-level', 'chatty']);
  assert.equal(r.code, 2);
  const dir = tmpDir(t);
  fs.writeFileSync(path.join(dir, 'hub.ini'), '[hub]\nlisten = 127.0.0.1:1\nbogus_key = 1\n');
  r = await run(['--config', path.join(dir, 'hub.ini')]);
  assert.equal(r.code, 2);
  assert.match(r.out, /bogus_key/);
  r = await run(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.out, /--access-key/);
  assert.ok(fs.existsSync(path.join(BIN, 'telewire-hub')));
});

test('scale-out: two hubs on one broker; every client gets every broadcast and group message once, in order', async (t) => {
  const broker = await startBroker(t);
  const hubs = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const hub = startProc(t, 'telewire-hub', ['--listen', `127.0.0.1:${port}`, '--mqtt', broker.uri, '--access-key', KEY]);
    await hub.waitForLog(/connected to tcp:/);
    hubs.push(`http://127.0.0.1:${port}`);
  }
  const pub = mqtt.connect(broker.url);
  await new Promise((resolve, reject) => { pub.once('connect', resolve); pub.once('error', reject); });
  t.after(() => pub.endAsync());
  const clients = [];
  for (let i = 0; i < 6; i++) {
    const c = await officialClient(t, hubs[i % 2]);
    if (i < 4) await c.conn.invoke('JoinGroup', 'fleet');
    clients.push(c);
  }
  await waitSubscribed({ publish: (p) => pub.publishAsync('telewire/hub/telemetry/x', JSON.stringify(p), { qos: 1 }) }, clients);
  // 300 envelopes in batches, broadcasts and group sends interleaved, as ingest sends them.
  const N = 300;
  for (let i = 0; i < N; i += 10) {
    const batch = [];
    for (let j = i; j < i + 10; j++) {
      batch.push(j % 3 === 0 ? { target: 'all', method: 'alert', args: [j] }
        : { target: 'group', name: 'fleet', method: 'telemetry', args: [j] });
    }
    await pub.publishAsync('telewire/hub/telemetry/results', JSON.stringify(batch), { qos: 1 });
  }
  const all = [...Array(N).keys()];
  const wantMember = all;
  const wantOther = all.filter((j) => j % 3 === 0);
  await waitFor(() => clients.every((c, i) => c.got.length >= (i < 4 ? wantMember : wantOther).length),
    15000, 'every client to get its messages');
  await sleep(200); // duplicates would arrive now
  clients.forEach((c, i) => {
    assert.deepEqual(c.got.map((m) => m[1]), i < 4 ? wantMember : wantOther,
      `client ${i} on hub ${i % 2} (${i < 4 ? 'member' : 'not a member'})`);
  });
});
