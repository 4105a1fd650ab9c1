// rest.test.mjs -- the Azure SignalR REST API v1 of telewire-hub: sends, membership, closing, tokens, bad input, two hubs on one broker
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import * as signalR from '@microsoft/signalr';
import WebSocket from 'ws';
import { freePort, startBroker, startProc, waitFor, sleep } from '../harness/index.mjs';

const KEY = 'rest-test-key';
const RS = '\x1e';
const METHODS = ['msg', 'probe', 'done'];

/** Starts a hub on a free port against broker; resolves when it is subscribed. */
async function startHubOn(t, broker, extra = []) {
  const port = await freePort();
  const hub = startProc(t, 'telewire-hub', [
    '--listen', `127.0.0.1:${port}`, '--mqtt', broker.uri, '--access-key', KEY, ...extra]);
  await hub.waitForLog(/listening on http:\/\/127\.0\.0\.1/);
  await hub.waitForLog(/connected to tcp:/);
  const gone = await Promise.race([hub.exited, sleep(150).then(() => null)]);
  if (gone) throw new Error(`telewire-hub exited early (${JSON.stringify(gone)}):\n${hub.output()}`);
  return { port, hub, base: `http://127.0.0.1:${port}` };
}

async function startHub(t, extra = []) {
  const broker = await startBroker(t);
  return { broker, ...(await startHubOn(t, broker, extra)) };
}

function jwt(claims, key = KEY, header = { alg: 'HS256', typ: 'JWT' }) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const data = `${b64(header)}.${b64(claims)}`;
  return `${data}.${crypto.createHmac('sha256', key).update(data).digest('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);

/** The token Azure's server SDKs send: aud = the request URL without its query. */
const restToken = (base, path) => jwt({ aud: `${base}${path.split('?')[0]}`, exp: now() + 300 });

/**
 * One REST call over node:http, so the path goes out exactly as written.
 * opts: body (object or string or Buffer), token, auth (the whole
 * Authorization header; '' for none). Resolves {status, headers, text, json}.
 */
function rest(h, method, path, opts = {}) {
  return new Promise((resolve, reject) => {
    const headers = {};
    if (opts.auth === undefined) headers.Authorization = `Bearer ${opts.token ?? restToken(h.base, path)}`;
    else if (opts.auth) headers.Authorization = opts.auth;
    let data;
    if (opts.body !== undefined) {
      data = typeof opts.body === 'string' || Buffer.isBuffer(opts.body) ? opts.body : JSON.stringify(opts.body);
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(data);
    }
    const req = http.request({ host: '127.0.0.1', port: h.port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.setTimeout(15000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    if (data !== undefined) req.write(data);
    req.end();
  });
}

/** A send that must be accepted. */
async function send(h, path, target, args = [], query = '') {
  const r = await rest(h, 'POST', `/api/v1/hubs/telemetry${path}${query}`, { body: { target, arguments: args } });
  assert.equal(r.status, 202, `POST ${path}${query}: ${r.text}`);
  assert.equal(r.text, '');
}

/** The official client, through /api/negotiate and its redirect, WebSockets only. */
async function officialClient(t, base, query = '') {
  const conn = new signalR.HubConnectionBuilder()
    .withUrl(`${base}/api?hub=telemetry${query}`, { transport: signalR.HttpTransportType.WebSockets })
    .configureLogging(signalR.LogLevel.None)
    .build();
  const c = { conn, got: [], closed: null };
  for (const m of METHODS) conn.on(m, (...args) => { c.got.push([m, ...args]); });
  conn.onclose((err) => { c.closed = { error: err ? err.message : null }; });
  await conn.start();
  c.id = conn.connectionId;
  t.after(() => conn.stop());
  return c;
}

/** A raw `ws` client with a handshake done; collects records and the close. */
async function rawClient(t, base, query = '') {
  const token = (await (await fetch(`${base}/api/negotiate?hub=telemetry${query}`, { method: 'POST' })).json()).accessToken;
  const n = await fetch(`${base}/client/negotiate?hub=telemetry&negotiateVersion=1`,
    { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
  const { connectionId, connectionToken } = await n.json();
  const ws = new WebSocket(`${base.replace('http', 'ws')}/client/?hub=telemetry&id=${connectionToken}&access_token=${token}`);
  const c = { ws, id: connectionId, records: [], text: '', closed: null };
  ws.on('message', (data) => {
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
  ws.send(`{"protocol":"json","version":1}${RS}`);
  await waitFor(() => c.records.length >= 1, 5000, 'the handshake response');
  assert.deepEqual(c.records.shift(), {});
  return c;
}

/** Broadcasts a marker and waits until every client saw it: all before it has arrived. */
async function settle(h, clients, tag) {
  await send(h, '', 'done', [tag]);
  await waitFor(() => clients.every((c) => c.got.some(([m, x]) => m === 'done' && x === tag)),
    10000, `marker ${tag} on every client`);
}

/** The 'msg' arguments a client got since the last take, in order. */
function take(c) {
  const msgs = c.got.filter(([m]) => m === 'msg').map(([, ...a]) => (a.length === 1 ? a[0] : a));
  c.got.length = 0;
  return msgs;
}

test('sends: broadcast, group, user, connection; connection membership; excluded', async (t) => {
  const h = await startHub(t);
  const a = await officialClient(t, h.base);
  const b = await officialClient(t, h.base);
  const alice1 = await officialClient(t, h.base, '&userId=alice');
  const alice2 = await officialClient(t, h.base, '&userId=alice');
  const all = [a, b, alice1, alice2];
  await a.conn.invoke('JoinGroup', 'fleet');

  await send(h, '', 'msg', ['to all', 1]);
  await send(h, '/groups/fleet', 'msg', ['fleet 1']);
  await send(h, '/users/alice', 'msg', ['alice']);
  await send(h, `/connections/${encodeURIComponent(b.id)}`, 'msg', ['just b']);
  await settle(h, all, 1);
  assert.deepEqual(take(a), [['to all', 1], 'fleet 1']);
  assert.deepEqual(take(b), [['to all', 1], 'just b']);
  assert.deepEqual(take(alice1), [['to all', 1], 'alice']);
  assert.deepEqual(take(alice2), [['to all', 1], 'alice']);

  // Adding and removing a connection changes who a group send reaches.
  let r = await rest(h, 'PUT', `/api/v1/hubs/telemetry/groups/fleet/connections/${b.id}`);
  assert.equal(r.status, 200, r.text);
  await send(h, '/groups/fleet', 'msg', ['fleet 2']);
  r = await rest(h, 'DELETE', `/api/v1/hubs/telemetry/groups/fleet/connections/${b.id}`);
  assert.equal(r.status, 200, r.text);
  await send(h, '/groups/fleet', 'msg', ['fleet 3']);
  // The other order of the same route, from the v1 swagger.
  r = await rest(h, 'PUT', `/api/v1/hubs/telemetry/connections/${alice2.id}/groups/fleet`);
  assert.equal(r.status, 200, r.text);
  await send(h, '/groups/fleet', 'msg', ['fleet 4']);
  await settle(h, all, 2);
  assert.deepEqual(take(a), ['fleet 2', 'fleet 3', 'fleet 4']);
  assert.deepEqual(take(b), ['fleet 2']);
  assert.deepEqual(take(alice1), []);
  assert.deepEqual(take(alice2), ['fleet 4']);

  // ?excluded= (repeated), on a broadcast and on a group send; SDK-style PascalCase body.
  await send(h, '', 'msg', ['all but a and b'], `?excluded=${a.id}&excluded=${b.id}`);
  await send(h, '/groups/fleet', 'msg', ['fleet but a'], `?excluded=${a.id}`);
  r = await rest(h, 'POST', '/api/v1/hubs/telemetry', { body: { Target: 'msg', Arguments: ['pascal'] } });
  assert.equal(r.status, 202);
  await settle(h, all, 3);
  assert.deepEqual(take(a), ['pascal']);
  assert.deepEqual(take(b), ['pascal']);
  assert.deepEqual(take(alice1), ['all but a and b', 'pascal']);
  assert.deepEqual(take(alice2), ['all but a and b', 'fleet but a', 'pascal']);
});

test('user groups: later connections join, ttl=0 does not record, remove one and remove all', async (t) => {
  const h = await startHub(t);
  const bob = await officialClient(t, h.base, '&userId=bob');
  const alice1 = await officialClient(t, h.base, '&userId=alice');
  let r = await rest(h, 'PUT', '/api/v1/hubs/telemetry/users/alice/groups/vip');
  assert.equal(r.status, 202, r.text);
  assert.equal(r.text, '');
  const alice2 = await officialClient(t, h.base, '&userId=alice'); // opened after the PUT
  await send(h, '/groups/vip', 'msg', ['vip 1']);
  await settle(h, [bob, alice1, alice2], 1);
  assert.deepEqual(take(alice1), ['vip 1']);
  assert.deepEqual(take(alice2), ['vip 1']);
  assert.deepEqual(take(bob), []);

  // The group-first path of v1; then removing the user from one group.
  r = await rest(h, 'PUT', '/api/v1/hubs/telemetry/groups/other/users/alice');
  assert.equal(r.status, 202, r.text);
  r = await rest(h, 'DELETE', '/api/v1/hubs/telemetry/users/alice/groups/vip');
  assert.equal(r.status, 202, r.text);
  const alice3 = await officialClient(t, h.base, '&userId=alice');
  await send(h, '/groups/vip', 'msg', ['vip 2']);
  await send(h, '/groups/other', 'msg', ['other 1']);
  // ttl=0: the connections open now, not later ones.
  r = await rest(h, 'PUT', '/api/v1/hubs/telemetry/users/alice/groups/now?ttl=0');
  assert.equal(r.status, 202, r.text);
  const alice4 = await officialClient(t, h.base, '&userId=alice');
  await send(h, '/groups/now', 'msg', ['now 1']);
  await send(h, '/groups/other', 'msg', ['other 2']);
  await settle(h, [bob, alice1, alice2, alice3, alice4], 2);
  for (const c of [alice1, alice2, alice3]) assert.deepEqual(take(c), ['other 1', 'now 1', 'other 2']);
  assert.deepEqual(take(alice4), ['other 2']);
  assert.deepEqual(take(bob), []);

  // Remove from all groups: every current connection, and the record for later ones.
  r = await rest(h, 'DELETE', '/api/v1/hubs/telemetry/users/alice/groups');
  assert.equal(r.status, 202, r.text);
  const alice5 = await officialClient(t, h.base, '&userId=alice');
  for (const g of ['vip', 'other', 'now']) await send(h, `/groups/${g}`, 'msg', [`${g} after`]);
  await send(h, '/users/alice', 'msg', ['still alice']);
  const alices = [alice1, alice2, alice3, alice4, alice5];
  await settle(h, [bob, ...alices], 3);
  for (const c of alices) assert.deepEqual(take(c), ['still alice']);
  assert.deepEqual(take(bob), []);
});

test('DELETE connection closes it with the reason; GET/HEAD tell whether it exists', async (t) => {
  const h = await startHub(t);
  const c = await officialClient(t, h.base);
  const raw = await rawClient(t, h.base);
  const other = await officialClient(t, h.base);
  const path = `/api/v1/hubs/telemetry/connections/${c.id}`;
  assert.equal((await rest(h, 'GET', path)).status, 200);
  let r = await rest(h, 'HEAD', path);
  assert.equal(r.status, 200);
  r = await rest(h, 'GET', '/api/v1/hubs/telemetry/connections/no-such-id');
  assert.equal(r.status, 404);
  assert.equal(r.json.error, 'Connection does not exist on this hub.');
  assert.equal((await rest(h, 'HEAD', '/api/v1/hubs/telemetry/connections/no-such-id')).status, 404);

  r = await rest(h, 'DELETE', `${path}?reason=${encodeURIComponent('maintenance window')}`);
  assert.equal(r.status, 202, r.text);
  await waitFor(() => c.closed, 5000, 'the official client to close');
  assert.match(c.closed.error, /maintenance window/);
  await h.hub.waitForLog(new RegExp(`connection ${c.id} closed .*closed through the REST API: maintenance window`));
  await waitFor(async () => (await rest(h, 'GET', path)).status === 404, 5000, 'the connection to be gone');

  r = await rest(h, 'DELETE', `/api/v1/hubs/telemetry/connections/${raw.id}`);
  assert.equal(r.status, 202);
  await waitFor(() => raw.closed, 5000, 'the raw client to close');
  assert.deepEqual(raw.records.find((x) => x.type === 7), { type: 7, error: 'Connection closed by the server.' });
  assert.equal(raw.closed.code, 1000);
  // Azure accepts closing a connection it does not know.
  assert.equal((await rest(h, 'DELETE', '/api/v1/hubs/telemetry/connections/no-such-id')).status, 202);
  await settle(h, [other], 1);
  assert.equal(other.closed, null);
});

test('refused requests: tokens, paths, names, bodies; each logged; the hub keeps serving', async (t) => {
  const h = await startHub(t);
  const watcher = await officialClient(t, h.base);
  const P = '/api/v1/hubs/telemetry';
  const aud = `${h.base}${P}`;
  const body = { target: 'msg', arguments: ['should not arrive'] };
  const noneToken = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ aud, exp: now() + 60 })).toString('base64url')}.`;
  const cases = [
    ['no token', 'POST', P, { auth: '', body }, 401, /^Unauthorized: no access token/],
    ['Basic scheme', 'POST', P, { auth: 'Basic dTpw', body }, 401, /Bearer scheme/],
    ['expired', 'POST', P, { token: jwt({ aud, exp: now() - 120 }), body }, 401, /^Unauthorized: token is expired$/],
    ['not yet valid', 'POST', P, { token: jwt({ aud, exp: now() + 3600, nbf: now() + 1800 }), body }, 401, /^Unauthorized: token is not valid yet \(nbf\)$/],
    ['no exp', 'POST', P, { token: jwt({ aud }), body }, 401, /token has no exp claim/],
    ['wrong key', 'POST', P, { token: jwt({ aud, exp: now() + 60 }, 'another-key'), body }, 401, /^Unauthorized: token signature does not match$/],
    ['alg none', 'POST', P, { token: noneToken, body }, 401, /^Unauthorized: token is not three base64url segments$/],
    ['alg none, signed', 'POST', P, { token: `${noneToken}c2ln`, body }, 401, /^Unauthorized: token algorithm is not HS256$/],
    ['alg HS512', 'POST', P, { token: jwt({ aud, exp: now() + 60 }, KEY, { alg: 'HS512' }), body }, 401, /algorithm is not HS256/],
    ['aud of another hub', 'POST', P, { token: jwt({ aud: `${h.base}/api/v1/hubs/chat`, exp: now() + 60 }), body }, 401, /^Unauthorized: token audience \(aud\) is not the request URL http:\/\/127\.0\.0\.1:\d+\/api\/v1\/hubs\/telemetry$/],
    ['aud of another route', 'POST', P, { token: jwt({ aud: `${aud}/groups/g`, exp: now() + 60 }), body }, 401, /audience/],
    ['aud of another host', 'POST', P, { token: jwt({ aud: `http://other.example${P}`, exp: now() + 60 }), body }, 401, /audience/],
    ['client token', 'POST', P, { token: jwt({ aud: `${h.base}/client/?hub=telemetry`, exp: now() + 60 }), body }, 401, /audience/],
    ['unknown hub', 'POST', '/api/v1/hubs/chat', { body }, 404, /^Hub 'chat' is not served here \(this hub serves 'telemetry'\)\.$/],
    ['unknown connection', 'PUT', `${P}/groups/g/connections/no-such-id`, {}, 404, /^Connection 'no-such-id' does not exist on this hub\.$/],
    ['unknown connection, other order', 'DELETE', `${P}/connections/no-such-id/groups/g`, {}, 404, /does not exist/],
    ['unknown path', 'POST', `${P}/rooms/r`, { body }, 404, /^No REST API at \/api\/v1\/hubs\/telemetry\/rooms\/r/],
    ['no hub', 'POST', '/api/v1/hubs', { body }, 404, /No REST API at/],
    ['wrong method', 'GET', P, {}, 405, /^Method GET is not allowed here; allowed: POST\.$/],
    ['wrong method on membership', 'POST', `${P}/users/u/groups/g`, { body }, 405, /allowed: PUT, DELETE/],
    ['body not JSON', 'POST', P, { body: '{"target": "msg", ' }, 400, /^Request body is not valid JSON: .*\(line 1, column \d+\)\.$/],
    ['body not an object', 'POST', P, { body: '["msg"]' }, 400, /^Request body must be a JSON object with "target" and "arguments"\.$/],
    ['no body', 'POST', P, {}, 400, /^Request body is missing/],
    ['missing target', 'POST', P, { body: { arguments: [1] } }, 400, /^Request body: "target" must be a non-empty string of at most 256 bytes/],
    ['target not a string', 'POST', P, { body: { target: 3 } }, 400, /"target" must be a non-empty string/],
    ['arguments not an array', 'POST', P, { body: { target: 'msg', arguments: { a: 1 } } }, 400, /^Request body: "arguments" must be an array\.$/],
    ['target twice', 'POST', P, { body: '{"target":"msg","Target":"x"}' }, 400, /twice/],
    ['body over 1 MiB', 'POST', P, { body: JSON.stringify({ target: 'msg', arguments: ['x'.repeat(1024 * 1024)] }) }, 413, /^Request body is larger than 1048576 bytes\.$/],
    ['bad percent-encoding', 'POST', `${P}/groups/%zz`, { body }, 400, /^Bad percent-encoding in the group name of the path\.$/],
    ['truncated percent-encoding', 'POST', `${P}/users/a%4`, { body }, 400, /^Bad percent-encoding in the user id of the path\.$/],
    ['control character', 'POST', `${P}/groups/a%01b`, { body }, 400, /^The group name in the path holds a control character/],
    ['not UTF-8', 'POST', `${P}/users/%FF`, { body }, 400, /is not valid UTF-8/],
    ['empty name', 'PUT', `${P}/groups//connections/x`, {}, 400, /^The group name in the path is empty/],
    ['name over 1024 bytes', 'POST', `${P}/groups/${'g'.repeat(1025)}`, { body }, 400, /is too long: it must be 1 to 1024 bytes/],
    ['bad ttl', 'PUT', `${P}/users/u/groups/g?ttl=soon`, {}, 400, /^Query parameter 'ttl' must be a whole number of seconds from 0 to 2147483647\.$/],
    ['bad reason', 'DELETE', `${P}/connections/x?reason=a%0Ab`, {}, 400, /^Query parameter 'reason' holds a control character/],
    ['bad excluded', 'POST', `${P}?excluded=`, { body }, 400, /^Query parameter 'excluded' must hold connection ids/],
  ];
  for (const [name, method, path, opts, status, re] of cases) {
    const r = await rest(h, method, path, opts);
    assert.equal(r.status, status, `${name}: ${r.text}`);
    assert.match(r.json?.error ?? '', re, name);
    if (status === 401) assert.equal(r.headers['www-authenticate'], 'Bearer', name);
    else assert.equal(r.headers['www-authenticate'], undefined, name);
    if (status === 405) assert.ok(r.headers.allow, name);
  }
  await h.hub.waitForLog(/rest: POST \/api\/v1\/hubs\/telemetry refused with 401: Unauthorized: token is expired/);
  await h.hub.waitForLog(/rest: POST \/api\/v1\/hubs\/telemetry\/groups\/%zz refused with 400: Bad percent-encoding/);
  await h.hub.waitForLog(/rest: POST \/api\/v1\/hubs\/telemetry refused with 413/);
  // One warning line per refused request (the log arrives through a pipe: wait for it).
  const refusedLines = () => h.hub.output().split('\n').filter((l) => / rest: .* refused with /.test(l));
  await waitFor(() => refusedLines().length >= cases.length, 5000, `${cases.length} refusal lines`).catch(() => {});
  await sleep(200);
  assert.equal(refusedLines().length, cases.length, refusedLines().join('\n'));

  // Still serving: a good token works, the watcher got only what was accepted.
  const tolerant = jwt({ aud: [`http://x.example/`, `${h.base.toUpperCase()}${P.toUpperCase()}/?q=1`], exp: now() + 60 });
  const r = await rest(h, 'POST', P, { token: tolerant, body: { target: 'msg', arguments: ['accepted'] } });
  assert.equal(r.status, 202, r.text);
  await settle(h, [watcher], 1);
  assert.deepEqual(take(watcher), ['accepted']);
  const late = await officialClient(t, h.base);
  await settle(h, [watcher, late], 2);
  const health = await (await fetch(`${h.base}/api/v1/health`)).json();
  assert.equal(health.connections, 2);
});

test('--rest-via-broker: two hubs on one broker; sends reach every hub once and in order; membership across hubs', async (t) => {
  const broker = await startBroker(t);
  const A = await startHubOn(t, broker, ['--rest-via-broker']);
  const B = await startHubOn(t, broker, ['--rest-via-broker']);
  const onA = await officialClient(t, A.base);
  const onB1 = await officialClient(t, B.base);
  const onB2 = await officialClient(t, B.base);
  const aliceB = await officialClient(t, B.base, '&userId=alice');
  const everyone = [onA, onB1, onB2, aliceB];
  await onB1.conn.invoke('JoinGroup', 'fleet');
  // Both hubs subscribed: probes through A reach clients of both.
  let n = 0;
  await waitFor(async () => {
    await send(A, '', 'probe', [++n]);
    await sleep(100);
    return everyone.every((c) => c.got.some(([m]) => m === 'probe'));
  }, 15000, 'a probe from hub A on both hubs');
  await settle(A, everyone, 0);
  for (const c of everyone) c.got.length = 0;

  for (let i = 1; i <= 50; i++) await send(A, '', 'msg', [i]);
  for (let i = 1; i <= 5; i++) await send(A, '/groups/fleet', 'msg', [`fleet ${i}`]);
  await settle(A, everyone, 1);
  const numbers = [...Array(50).keys()].map((i) => i + 1);
  assert.deepEqual(take(onA), numbers);
  assert.deepEqual(take(onB2), numbers);
  assert.deepEqual(take(aliceB), numbers);
  assert.deepEqual(take(onB1), [...numbers, 'fleet 1', 'fleet 2', 'fleet 3', 'fleet 4', 'fleet 5']);

  // Membership asked of hub A for connections and users living on hub B.
  let r = await rest(A, 'PUT', `/api/v1/hubs/telemetry/groups/team/connections/${onB2.id}`);
  assert.equal(r.status, 200, r.text);
  r = await rest(A, 'PUT', '/api/v1/hubs/telemetry/users/alice/groups/team');
  assert.equal(r.status, 202, r.text);
  await send(A, '/groups/team', 'msg', ['team']);
  await send(A, '/users/alice', 'msg', ['alice']);
  await send(A, `/connections/${onB1.id}`, 'msg', ['b1']);
  await settle(A, everyone, 2);
  assert.deepEqual(take(onA), []);
  assert.deepEqual(take(onB1), ['b1']);
  assert.deepEqual(take(onB2), ['team']);
  assert.deepEqual(take(aliceB), ['team', 'alice']);
  // A later connection of alice, on hub B, joins the group recorded there.
  const aliceB2 = await officialClient(t, B.base, '&userId=alice');
  await send(A, '/groups/team', 'msg', ['team 2']);
  await settle(A, [...everyone, aliceB2], 3);
  assert.deepEqual(take(aliceB2), ['team 2']);

  // Existence is local; closing goes to the hub that has the connection.
  assert.equal((await rest(A, 'GET', `/api/v1/hubs/telemetry/connections/${onB2.id}`)).status, 404);
  assert.equal((await rest(B, 'GET', `/api/v1/hubs/telemetry/connections/${onB2.id}`)).status, 200);
  r = await rest(A, 'DELETE', `/api/v1/hubs/telemetry/connections/${onB2.id}?reason=moved`);
  assert.equal(r.status, 202);
  await waitFor(() => onB2.closed, 5000, 'the client on hub B to be closed');
  assert.match(onB2.closed.error, /moved/);
  assert.equal(onB1.closed, null);
  assert.equal(onA.closed, null);
});
