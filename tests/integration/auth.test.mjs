// auth.test.mjs -- connection strings, app-side negotiate with caller tokens, anonymous roles, the token CLI
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import * as signalR from '@microsoft/signalr';
import mqtt from 'mqtt';
import { BIN, freePort, startBroker, startProc, waitFor } from '../harness/index.mjs';

const KEY = 'auth-test-access-key';
const SECRET = 'auth-test-negotiate-secret';
const HUB = path.join(BIN, 'telewire-hub');

function jwt(claims, key, header = { alg: 'HS256', typ: 'JWT' }) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const data = `${b64(header)}.${b64(claims)}`;
  return `${data}.${crypto.createHmac('sha256', key).update(data).digest('base64url')}`;
}
const claimsOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());

/** `telewire-hub token ...`: the token, or throws with what it printed. */
function cliToken(args) {
  const r = spawnSync(HUB, ['token', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`telewire-hub token ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

async function startHub(t, extra) {
  const broker = await startBroker(t);
  const port = await freePort();
  const hub = startProc(t, 'telewire-hub', ['--listen', `127.0.0.1:${port}`, '--mqtt', broker.uri, ...extra]);
  await hub.waitForLog(/connected to tcp:/);
  return { broker, port, hub, base: `http://127.0.0.1:${port}` };
}

test('connection string and caller tokens: negotiate refuses strangers, carries the caller\'s user and roles', async (t) => {
  const port0 = await freePort();
  const h = await startHub(t, ['--connection-string',
    `Endpoint=http://127.0.0.1:${port0};AccessKey=${KEY};Version=1.0;ClientEndpoint=http://127.0.0.1:${port0}`,
    '--negotiate-secret', SECRET]);
  const now = Math.floor(Date.now() / 1000);
  const negotiate = (token) => fetch(`${h.base}/api/negotiate?hub=telemetry`, {
    method: 'POST', headers: token ? { Authorization: `Bearer ${token}` } : {} });

  let r = await negotiate(null);
  assert.equal(r.status, 401);
  assert.match((await r.json()).error, /needs a caller token/);
  r = await negotiate(jwt({ sub: 'alice', exp: now + 60 }, 'wrong-secret'));
  assert.equal(r.status, 401);
  assert.match((await r.json()).error, /signature/);
  r = await negotiate(jwt({ sub: 'alice', exp: now - 600 }, SECRET));
  assert.equal(r.status, 401);
  assert.match((await r.json()).error, /expired/);
  r = await negotiate(jwt({ exp: now + 60 }, SECRET));
  assert.equal(r.status, 401);
  assert.match((await r.json()).error, /sub or nameid/);
  await h.hub.waitForLog(/refused a negotiate caller token/);

  r = await negotiate(jwt({ sub: 'alice', exp: now + 60, role: ['telewire.command', 'webpubsub.joinLeaveGroup'] }, SECRET));
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.equal(body.url, `http://127.0.0.1:${port0}/client/?hub=telemetry`);
  const c = claimsOf(body.accessToken);
  assert.equal(c.sub, 'alice');
  assert.deepEqual(c.role, ['telewire.command', 'webpubsub.joinLeaveGroup']);
  assert.equal(c.aud, body.url);
  // The client token is signed with the connection string's AccessKey: the hub takes it
  // even though its audience is the public ClientEndpoint rather than this listener.
  const n = await fetch(`${h.base}/client/negotiate?hub=telemetry&negotiateVersion=1`,
    { method: 'POST', headers: { Authorization: `Bearer ${body.accessToken}` } });
  assert.equal(n.status, 200);
  // A token signed with any other key is refused.
  const forged = jwt({ ...c }, 'not-the-access-key');
  assert.equal((await fetch(`${h.base}/client/negotiate?hub=telemetry&negotiateVersion=1`,
    { method: 'POST', headers: { Authorization: `Bearer ${forged}` } })).status, 401);
});

test('token CLI: client tokens with roles, REST tokens; anonymous roles', async (t) => {
  const h = await startHub(t, ['--access-key', KEY, '--anonymous-roles', 'webpubsub.joinLeaveGroup,telewire.command']);
  const cmds = mqtt.connect(h.broker.url);
  await new Promise((resolve, reject) => { cmds.once('connect', resolve); cmds.once('error', reject); });
  t.after(() => cmds.endAsync());
  const got = [];
  cmds.on('message', (topic, p) => got.push([topic, JSON.parse(p.toString())]));
  await cmds.subscribeAsync('devices/+/commands', { qos: 1 });

  // A client token from the CLI, with the command role, used by the official client.
  const token = cliToken(['--aud', `${h.base}/client/?hub=telemetry`, '--user', 'ops', '--roles',
    'telewire.command', '--access-key', KEY, '--ttl', '120']);
  const cl = claimsOf(token);
  assert.equal(cl.sub, 'ops');
  assert.equal(cl.exp - cl.iat, 120);
  const conn = new signalR.HubConnectionBuilder()
    .withUrl(`${h.base}/client/?hub=telemetry`, { accessTokenFactory: () => token })
    .configureLogging(signalR.LogLevel.Warning).build();
  await conn.start();
  t.after(() => conn.stop());
  const res = await conn.invoke('SendCommand', 'veh-0007', { command: 'go_home', args: { depot: 2 } });
  assert.deepEqual(res, { deviceId: 'veh-0007', topic: 'devices/veh-0007/commands', status: 'published' });
  await waitFor(() => got.length === 1, 5000, 'the command on the broker');
  assert.equal(got[0][0], 'devices/veh-0007/commands');
  assert.equal(got[0][1].command, 'go_home');
  assert.deepEqual(got[0][1].args, { depot: 2 });
  assert.equal(got[0][1].from, 'ops');
  assert.equal(got[0][1].connectionId, conn.connectionId);
  // JoinGroup needs webpubsub.joinLeaveGroup, which this token lacks.
  await assert.rejects(conn.invoke('JoinGroup', 'fleet'), /Unauthorized/);

  // Anonymous clients got telewire.command through --anonymous-roles.
  const anon = new signalR.HubConnectionBuilder().withUrl(`${h.base}/api?hub=telemetry`)
    .configureLogging(signalR.LogLevel.Warning).build();
  await anon.start();
  t.after(() => anon.stop());
  await anon.invoke('JoinGroup', 'fleet');
  assert.equal((await anon.invoke('SendCommand', 'sensor-01', { command: 'reset' })).status, 'published');
  await assert.rejects(anon.invoke('SendCommand', 'a/b', { command: 'reset' }), /device id/);
  await assert.rejects(anon.invoke('SendCommand', 'sensor-01', { nope: 1 }), /"command"/);

  // A REST token from the CLI: its audience is the exact URL called.
  const url = `${h.base}/api/v1/hubs/telemetry/groups/fleet`;
  const got2 = [];
  anon.on('note', (x) => { got2.push(x); });
  const rest = cliToken(['--aud', url, '--access-key', KEY]);
  const rr = await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${rest}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ target: 'note', arguments: ['hi'] }) });
  assert.equal(rr.status, 202);
  await waitFor(() => got2.length === 1, 5000, 'the REST message');
  assert.deepEqual(got2, ['hi']);

  // Without the role, SendCommand is refused (a default hub's anonymous tokens).
  const plain = cliToken(['--aud', `${h.base}/client/?hub=telemetry`, '--access-key', KEY]);
  const c3 = new signalR.HubConnectionBuilder()
    .withUrl(`${h.base}/client/?hub=telemetry`, { accessTokenFactory: () => plain })
    .configureLogging(signalR.LogLevel.Warning).build();
  await c3.start();
  t.after(() => c3.stop());
  await assert.rejects(c3.invoke('SendCommand', 'veh-0007', { command: 'x' }), /telewire\.command role/);
  await h.hub.waitForLog(/SendCommand refused: Unauthorized/);
});

test('token CLI and connection string errors are clear and exit 2', () => {
  const run = (args) => spawnSync(HUB, args, { encoding: 'utf8' });
  let r = run(['token', '--aud', 'http://x/client/?hub=h']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /give --access-key or --connection-string/);
  r = run(['token', '--access-key', 'k']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--aud URL is required/);
  r = run(['token', '--aud', 'x', '--connection-string', 'Endpoint=http://h;AccessKey=k;Version=2.0']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /only Version=1\.0 is supported/);
  r = run(['--connection-string', 'Endpoint=http://h']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /AccessKey is missing/);
  r = run(['--negotiate-secret', '']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--negotiate-secret must not be empty/);
});
