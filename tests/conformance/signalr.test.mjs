// signalr.test.mjs -- conformance: the official @microsoft/signalr client, JSON and MessagePack, over
// each transport forced on its own, against telewire-hub with a private mosquitto and the real telewire-ingest
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import util from 'node:util';
import * as signalR from '@microsoft/signalr';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { freePort, startBroker, startProc, waitFor, sleep } from '../harness/index.mjs';

const KEY = 'conformance-test-key';
const HUB = 'telemetry';
const RS = '\x1e';
const T = signalR.HttpTransportType;
// The EventSource the client itself loads under Node (the `eventsource` package).
const NodeEventSource = createRequire(import.meta.url)('eventsource');
const TRANSPORT_NAME = { [T.WebSockets]: 'WebSockets', [T.ServerSentEvents]: 'ServerSentEvents', [T.LongPolling]: 'LongPolling' };
const METHODS = ['telemetry', 'marker', 'probe'];
const RECONNECT_DELAYS = [0, 200, 500, 1000, 2000];

/** Every kind of value a hub argument can hold; each must arrive exactly as sent, in both protocols. */
const VALUES = [
  'Grüße aus Köln — 東京 🚗 ελληνικά',
  'quote " backslash \\ slash / tab \t newline \n record separator \u001e del \u007f',
  '',
  { nested: { deeper: { deepest: [1, [2, [3, { vier: 'four' }]]] } }, schlüssel: 'wert', empty: {}, list: [] },
  Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 4294967296, -2147483649, -32769, -129, -33, -1, 0, 127, 255, 65536,
  3.141592653589793, -2.5e-300, 1.7976931348623157e308, 0.1 + 0.2, -1234.5,
  true, false, null, [], {},
];

const show = (v) => util.inspect(v, { depth: null, breakLength: Infinity, maxArrayLength: null, maxStringLength: 2000 });
const now = () => Math.floor(Date.now() / 1000);

function jwt(claims, key = KEY) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const data = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${data}.${crypto.createHmac('sha256', key).update(data).digest('base64url')}`;
}

/** deepEqual whose failure says what was expected and what was seen. */
function same(actual, expected, what) {
  assert.deepEqual(actual, expected, `${what}:\n  expected ${show(expected)}\n  saw      ${show(actual)}`);
}

/** waitFor whose timeout message is computed when it times out (so it shows what was seen by then). */
async function until(fn, ms, what) {
  try {
    return await waitFor(fn, ms, 'condition');
  } catch {
    throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
  }
}

const tail = (text, n = 40) => text.split('\n').slice(-n).join('\n');
const reEscape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// ---- processes ----

/** Starts telewire-hub on s.port against s.broker; resolves when it listens and has reached the broker. */
async function startHub(t, s) {
  const hub = startProc(t, 'telewire-hub', ['--listen', `127.0.0.1:${s.port}`, '--mqtt', s.broker.uri,
    '--access-key', KEY, '--hub', HUB, '--log-level', 'debug', ...s.hubArgs]);
  await hub.waitForLog(/listening on http:\/\/127\.0\.0\.1/);
  await hub.waitForLog(/connected to tcp:/);
  const gone = await Promise.race([hub.exited, sleep(100).then(() => null)]);
  if (gone) throw new Error(`telewire-hub exited early (${JSON.stringify(gone)}):\n${hub.output()}`);
  return hub;
}

/** A broker, a hub (extra hub flags in hubArgs), optionally telewire-ingest, and an MQTT client. */
async function startStack(t, { hubArgs = [], ingest = true } = {}) {
  const broker = await startBroker(t);
  const port = await freePort();
  const s = { broker, port, base: `http://127.0.0.1:${port}`, hubArgs };
  s.hub = await startHub(t, s);
  if (ingest) {
    s.ingest = startProc(t, 'telewire-ingest', ['--mqtt', broker.uri, '--hub', HUB,
      '--client-id', `conformance-${port}`, '--stats-interval', '0', '--linger-ms', '0']);
    await s.ingest.waitForLog(/consuming /);
  }
  s.mq = await mqtt.connectAsync(broker.url);
  t.after(() => s.mq.endAsync());
  return s;
}

// ---- REST API ----

/** POST /api/v1/hubs/telemetry{path} {target, arguments}, with a token whose aud is the request URL; must be 202. */
async function restSend(s, path, target, args) {
  const url = `${s.base}/api/v1/hubs/${HUB}${path}`;
  const r = await fetch(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${jwt({ aud: url, exp: now() + 300 })}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ target, arguments: args }),
    signal: AbortSignal.timeout(10000),
  });
  const text = await r.text();
  assert.equal(r.status, 202, `POST ${url} target ${target}: expected 202, saw ${r.status} ${text}`);
}

// ---- the official client ----

/**
 * An official client (not started). opts: transport (omitted: the client's default, every transport),
 * protocol 'json' | 'messagepack', token (accessTokenFactory), reconnect (delays).
 */
function client(t, url, opts = {}) {
  const c = { got: [], logs: [], closed: null, protocol: opts.protocol || 'json' };
  const logger = {
    log(level, message) {
      if (level >= signalR.LogLevel.Debug) c.logs.push(`${new Date().toISOString()} ${signalR.LogLevel[level]}: ${message}`);
    },
  };
  // The client's own EventSource, except that an exception the client throws from its error
  // handler is recorded on c.uncaught (so that a test can say so) instead of killing the process.
  c.uncaught = [];
  class RecordingEventSource extends NodeEventSource {
    get onerror() { return super.onerror; }
    set onerror(fn) {
      super.onerror = typeof fn !== 'function' ? fn : (e) => {
        try { fn(e); } catch (err) { c.uncaught.push(err); }
      };
    }
  }
  const http = { EventSource: RecordingEventSource };
  if (opts.transport !== undefined) http.transport = opts.transport;
  if (opts.token) http.accessTokenFactory = () => opts.token;
  let b = new signalR.HubConnectionBuilder().withUrl(url, http).configureLogging(logger);
  if (c.protocol === 'messagepack') b = b.withHubProtocol(new MessagePackHubProtocol());
  if (opts.reconnect) b = b.withAutomaticReconnect(opts.reconnect);
  c.conn = b.build();
  for (const m of METHODS) c.conn.on(m, (...args) => { c.got.push([m, ...args]); });
  c.conn.onclose((err) => { c.closed = { error: err ? err.message : null }; });
  // stop() waits for a start in progress: bounded, so that a stuck client cannot hold the suite.
  t.after(async () => {
    await Promise.race([c.conn.stop().catch(() => {}), sleep(3000)]);
    if (process.env.TW_TEST_VERBOSE) process.stderr.write(`--- client ${url} (${c.protocol}) log:\n${c.logs.join('\n')}\n`);
  });
  return c;
}

/** Starts c; a failure names the client's log and the hub's. */
async function start(c, s) {
  try {
    await c.conn.start();
  } catch (e) {
    throw new Error(`the official client did not start: ${e.message}\n--- client log:\n${tail(c.logs.join('\n'))}` +
      `\n--- hub log:\n${tail(s.hub.output())}`);
  }
}

const ofMethod = (c, m) => c.got.filter(([x]) => x === m).map(([, ...args]) => args);

/** Broadcasts a marker over REST and waits for it: everything sent to c before it has arrived. */
async function settle(s, c, tag) {
  await restSend(s, '', 'marker', [tag]);
  await until(() => c.got.some(([m, x]) => m === 'marker' && x === tag), 10000,
    () => `marker ${tag}; the client got ${show(c.got.slice(-5))}\n--- hub log:\n${tail(s.hub.output())}`);
}

/** Publishes probes through the broker until c sees one: the hub's backplane subscription is live. */
async function backplaneLive(s, c) {
  let n = 0;
  await until(async () => {
    await s.mq.publishAsync(`telewire/hub/${HUB}/probe`, JSON.stringify({ target: 'all', method: 'probe', args: [++n] }), { qos: 1 });
    await sleep(100);
    return c.got.some(([m]) => m === 'probe');
  }, 10000, () => `a probe through the broker\n--- hub log:\n${tail(s.hub.output())}`);
  c.got = c.got.filter(([m]) => m !== 'probe');
}

/** Publishes a device's telemetry the way a device does. */
const publishTelemetry = (s, device, payload) =>
  s.mq.publishAsync(`devices/${device}/telemetry`, JSON.stringify(payload), { qos: 1 });

/** Waits for the hub to log that connection id opened over transportName. */
async function openedOver(s, id, transportName) {
  await until(() => new RegExp(`connection ${reEscape(id)} opened \\(user \\S+, transport ${transportName}\\)`).test(s.hub.output()),
    5000, () => `the hub to log "connection ${id} opened (... transport ${transportName})"; its log:\n` +
      tail(s.hub.output().split('\n').filter((l) => /opened|closed|refused|bad handshake/.test(l)).join('\n')));
}

// ---- one combination of transport and protocol: steps 1 to 5 ----

function combination(transport, protocol) {
  const tname = TRANSPORT_NAME[transport];
  test(`${tname} + ${protocol}: connect, groups from REST and ingest, leave, SendCommand, reconnect`, async (t) => {
    const s = await startStack(t);
    let c = null;

    await t.test('1. connects through app-side negotiate (POST /api/negotiate, then the url it names)', async () => {
      const x = client(t, `${s.base}/api?hub=${HUB}`, { transport, protocol });
      await start(x, s);
      assert.equal(x.conn.state, signalR.HubConnectionState.Connected,
        `expected state Connected, saw ${x.conn.state}`);
      assert.match(String(x.conn.connectionId), /^[A-Za-z0-9_-]{16,}$/,
        `expected a connectionId, saw ${show(x.conn.connectionId)}`);
      await openedOver(s, x.conn.connectionId, tname);
      const negotiations = x.logs.filter((l) => /Sending negotiation request/.test(l)).map((l) => l.replace(/^.*request: /, ''));
      same(negotiations, [`${s.base}/api/negotiate?hub=${HUB}&negotiateVersion=1.`, `${s.base}/client/negotiate?hub=${HUB}&negotiateVersion=1.`],
        'the negotiate requests the client sent (the app side, then the url it named)');
      const used = x.logs.find((l) => /Using HubProtocol/.test(l));
      assert.ok(used && used.includes(`'${protocol}'`), `expected the client to log "Using HubProtocol '${protocol}'", saw ${show(used)}`);
      c = x;
    });

    await t.test('2. JoinGroup; group messages from REST (50 in order, every kind of value) and from ingest', async () => {
      assert.ok(c, 'no connection: step 1 failed');
      const joined = await c.conn.invoke('JoinGroup', 'fleet');
      assert.ok(joined === null || joined === undefined, `expected JoinGroup to complete without a result, saw ${show(joined)}`);
      for (let i = 1; i <= 50; i++) await restSend(s, '/groups/fleet', 'telemetry', [{ n: i }]);
      await restSend(s, '/groups/fleet', 'telemetry', VALUES);
      await settle(s, c, 'rest');
      const numbered = ofMethod(c, 'telemetry').filter((a) => a.length === 1 && a[0] && a[0].n !== undefined).map((a) => a[0].n);
      same(numbered, [...Array(50).keys()].map((i) => i + 1), 'the numbered REST group messages, each once, in order');
      const rich = ofMethod(c, 'telemetry').filter((a) => a.length !== 1);
      same(rich, [VALUES], 'the arguments of the REST message with every kind of value');

      // ingest: a device publishes, ingest decodes and routes veh-* to group fleet, the hub delivers.
      await backplaneLive(s, c);
      const ts = Date.now() - 1000;
      const values = { speed: 48.25, lat: 52.370216, lon: -4.895168, odometer: 123456789, ignition: true, door_open: false, driver: 'Zoë Ångström 東京' };
      await publishTelemetry(s, 'veh-0001', { ts, seq: 7, values });
      await until(() => ofMethod(c, 'telemetry').some(([r]) => r && r.device === 'veh-0001'), 10000,
        () => `the ingest record of veh-0001; the client got ${show(c.got.slice(-3))}\n--- ingest log:\n${tail(s.ingest.output())}`);
      const recs = ofMethod(c, 'telemetry').filter(([r]) => r && r.device === 'veh-0001');
      same(recs, [[{ device: 'veh-0001', ts, seq: 7, values }]], 'the record telewire-ingest pushed for veh-0001');
    });

    await t.test('3. LeaveGroup: group messages stop, broadcasts still arrive', async () => {
      assert.ok(c, 'no connection: step 1 failed');
      await c.conn.invoke('JoinGroup', 'temperature');
      const left = await c.conn.invoke('LeaveGroup', 'fleet');
      assert.ok(left === null || left === undefined, `expected LeaveGroup to complete without a result, saw ${show(left)}`);
      c.got.length = 0;
      await restSend(s, '/groups/fleet', 'telemetry', ['after leaving (REST)']);
      // ingest: veh-0001 goes to fleet (left), then temp-0001 to temperature (still a member), in this order.
      await publishTelemetry(s, 'veh-0001', { ts: Date.now(), seq: 8, values: { speed: 1 } });
      await publishTelemetry(s, 'temp-0001', { ts: Date.now(), seq: 1, values: { temp: 21.5 } });
      await until(() => ofMethod(c, 'telemetry').some(([r]) => r && r.device === 'temp-0001'), 10000,
        () => `the temp-0001 record (group temperature); the client got ${show(c.got)}`);
      await settle(s, c, 'left');
      await sleep(200);
      same(ofMethod(c, 'telemetry').filter(([r]) => r === 'after leaving (REST)' || (r && r.device === 'veh-0001')), [],
        'group fleet messages after LeaveGroup');
      same(ofMethod(c, 'marker'), [['left']], 'the broadcast marker after LeaveGroup');
    });

    await t.test('4. SendCommand: published with the telewire.command role, refused without it or with a bad device id', async () => {
      assert.ok(c, 'no connection: step 1 failed');
      const sub = await mqtt.connectAsync(s.broker.url);
      t.after(() => sub.endAsync());
      const commands = [];
      sub.on('message', (topic, payload) => commands.push({ topic, body: JSON.parse(payload.toString()) }));
      await sub.subscribeAsync('devices/+/commands', { qos: 1 });

      const token = jwt({ aud: `${s.base}/client/?hub=${HUB}`, exp: now() + 600, sub: 'alice',
        role: ['webpubsub.joinLeaveGroup', 'telewire.command'] });
      const op = client(t, `${s.base}/client/?hub=${HUB}`, { transport, protocol, token });
      await start(op, s);
      await openedOver(s, op.conn.connectionId, tname);
      const args = { setpoint: 21.5, values: VALUES, label: 'Wohnzimmer — 居間' };
      const before = Date.now();
      const res = await op.conn.invoke('SendCommand', 'veh-0001', { command: 'set_setpoint', args });
      same(res, { deviceId: 'veh-0001', topic: 'devices/veh-0001/commands', status: 'published' }, 'the result of SendCommand');
      await until(() => commands.length >= 1, 5000, 'the command on devices/+/commands');
      const [cmd] = commands;
      assert.equal(cmd.topic, 'devices/veh-0001/commands', `expected topic devices/veh-0001/commands, saw ${cmd.topic}`);
      const { ts, ...rest } = cmd.body;
      same(rest, { command: 'set_setpoint', args, from: 'alice', connectionId: op.conn.connectionId }, 'the command a device receives (without ts)');
      assert.ok(Number.isInteger(ts) && ts >= before - 1000 && ts <= Date.now() + 1000,
        `expected ts to be now in ms, saw ${show(ts)}`);

      // The app-negotiated client has role webpubsub.joinLeaveGroup only.
      await assert.rejects(c.conn.invoke('SendCommand', 'veh-0001', { command: 'set_setpoint', args: {} }),
        (e) => { assert.match(e.message, /^Unauthorized: the access token has no telewire\.command role\.$/, `expected the Unauthorized text, saw ${show(e.message)}`); return true; },
        'SendCommand without the telewire.command role resolved');
      await assert.rejects(op.conn.invoke('SendCommand', 'a/b', { command: 'set_setpoint', args: {} }),
        (e) => { assert.match(e.message, /device id/, `expected a refusal naming the device id, saw ${show(e.message)}`); return true; },
        "SendCommand to device 'a/b' resolved");
      await sleep(300);
      same(commands.map((x) => x.topic), ['devices/veh-0001/commands'], 'the commands that reached the broker');
      assert.equal(op.conn.state, signalR.HubConnectionState.Connected, `a refused invocation changed the state to ${op.conn.state}`);
    });

    await t.test('5. reconnects by itself after the hub restarts; re-joined in onreconnected, group messages arrive again', async () => {
      const r = client(t, `${s.base}/api?hub=${HUB}`, { transport, protocol, reconnect: RECONNECT_DELAYS });
      const events = [];
      r.conn.onreconnecting((err) => events.push(['reconnecting', err ? err.message : null]));
      r.conn.onreconnected(async (id) => {
        events.push(['reconnected', id]);
        try {
          await r.conn.invoke('JoinGroup', 'fleet');
          events.push(['rejoined']);
        } catch (e) {
          events.push(['rejoin failed', e.message]);
        }
      });
      await start(r, s);
      await r.conn.invoke('JoinGroup', 'fleet');
      const firstId = r.conn.connectionId;
      await restSend(s, '/groups/fleet', 'telemetry', ['before restart']);
      await until(() => ofMethod(r, 'telemetry').length >= 1, 5000, () => `the message before the restart; got ${show(r.got)}`);

      const exit = await s.hub.stop('SIGTERM');
      assert.equal(exit.code, 0, `expected the hub to exit 0 on SIGTERM, saw ${show(exit)}\n${tail(s.hub.output())}`);
      const hubBefore = s.hub.output();
      s.hub = await startHub(t, s);
      const settled = () => events.some(([e]) => e === 'rejoined' || e === 'rejoin failed') || r.closed;
      await until(() => settled() || r.uncaught.length, 15000,
        () => `onreconnected and the re-join; events ${show(events)}, closed ${show(r.closed)}\n--- client log:\n` +
          `${tail(r.logs.join('\n'))}\n--- hub log:\n${tail(s.hub.output())}`);
      // After an exception in the client, give its remaining attempts (3.7 s in all) the chance to recover.
      if (r.uncaught.length) await until(settled, 5000, '').catch(() => {});
      assert.equal(r.uncaught.length, 0, `expected the client to reconnect, saw it throw from its transport while ` +
        `reconnecting: ${r.uncaught.map((e) => e.message).join('; ')}; then events ${show(events)}, state ${r.conn.state}` +
        `\n--- client log:\n` +
        `${tail(r.logs.join('\n'), 12)}\n--- hub log (the stopped hub, then the new one):\n${tail(hubBefore + '\n' + s.hub.output(), 14)}`);
      assert.equal(r.closed, null, `expected no onclose, saw ${show(r.closed)}; events ${show(events)}\n${tail(r.logs.join('\n'))}`);
      same(events.map(([e]) => e), ['reconnecting', 'reconnected', 'rejoined'], 'the reconnect events');
      assert.equal(r.conn.state, signalR.HubConnectionState.Connected, `expected Connected, saw ${r.conn.state}`);
      assert.notEqual(r.conn.connectionId, firstId, 'the connection id after a reconnect is the old one');
      same(events[1][1], r.conn.connectionId, 'the id onreconnected got');
      await openedOver(s, r.conn.connectionId, tname);
      await restSend(s, '/groups/fleet', 'telemetry', ['after restart']);
      await settle(s, r, 'restarted');
      same(ofMethod(r, 'telemetry'), [['before restart'], ['after restart']], 'group messages before and after the restart');
    });
  });
}

combination(T.WebSockets, 'json');
combination(T.WebSockets, 'messagepack');
combination(T.ServerSentEvents, 'json');
combination(T.LongPolling, 'json');
combination(T.LongPolling, 'messagepack');

// ---- numbers past 64 bits and NUL characters: valid JSON, so they must pass like any other value ----

test('values past 64-bit integers and NUL characters: REST to clients, clients to devices, JSON and MessagePack', async (t) => {
  const s = await startStack(t, { ingest: false });
  const CASES = {
    // JSON.stringify writes these as integer literals (2 ** 64 is "18446744073709552000").
    'integers past 64 bits': [2 ** 64, -(2 ** 64), 1e20, 2 ** 63, { deep: [2 ** 70] }],
    // (A NUL inside an object key is refused with a 400/Close naming it: the JSON library cannot hold one.)
    'NUL characters in strings': ['NUL \u0000 inside', { key: '\u0000' }],
  };
  const token = jwt({ aud: `${s.base}/client/?hub=${HUB}`, exp: now() + 600, sub: 'bob',
    role: ['webpubsub.joinLeaveGroup', 'telewire.command'] });
  const sub = await mqtt.connectAsync(s.broker.url);
  t.after(() => sub.endAsync());
  const commands = [];
  sub.on('message', (topic, payload) => commands.push(JSON.parse(payload.toString())));
  await sub.subscribeAsync('devices/+/commands', { qos: 1 });

  for (const [name, values] of Object.entries(CASES)) {
    // Fresh clients per case: a refused value may cost the connection.
    const clients = [];
    for (const protocol of ['json', 'messagepack']) {
      const c = client(t, `${s.base}/client/?hub=${HUB}`, { transport: T.WebSockets, protocol, token });
      await start(c, s);
      clients.push(c);
    }
    await t.test(`${name}: REST to a JSON and a MessagePack client`, async () => {
      await restSend(s, '', 'telemetry', values);
      for (const c of clients) {
        await settle(s, c, name);
        same(ofMethod(c, 'telemetry'), [values], `the ${c.protocol} client's arguments`);
      }
    });
    for (const c of clients) {
      await t.test(`${name}: SendCommand from the ${c.protocol} client to a device`, async () => {
        commands.length = 0;
        let res;
        try {
          res = await c.conn.invoke('SendCommand', 'veh-0002', { command: 'wide', args: { v: values } });
        } catch (e) {
          assert.fail(`expected SendCommand to be published, saw it fail: ${e.message}\n--- hub log:\n${tail(s.hub.output(), 3)}`);
        }
        same(res, { deviceId: 'veh-0002', topic: 'devices/veh-0002/commands', status: 'published' }, 'the result of SendCommand');
        await until(() => commands.length >= 1, 5000, 'the command at the device');
        same(commands[0].args, { v: values }, 'the args the device received');
      });
    }
  }
});

// ---- shutdown: a hub that is stopping takes no new clients ----

test('SIGTERM: every client gets its Close at once; the stopping hub accepts no new connection and exits promptly', async (t) => {
  for (const transport of [T.WebSockets, T.ServerSentEvents, T.LongPolling]) {
    const tname = TRANSPORT_NAME[transport];
    await t.test(tname, async () => {
      const s = await startStack(t, { ingest: false });
      const c = client(t, `${s.base}/api?hub=${HUB}`, { transport });
      await start(c, s);
      const token = jwt({ aud: `${s.base}/client/?hub=${HUB}`, exp: now() + 60, sub: 'late' });
      const sigterm = Date.now();
      s.hub.proc.kill('SIGTERM');
      await until(() => c.closed, 2000, () => `the client to get the Close; its log:\n${tail(c.logs.join('\n'), 8)}`);
      same(c.closed, { error: 'Server returned an error on close: Server is shutting down.' }, 'the error onclose got');
      const closedAfter = Date.now() - sigterm;
      // A client arriving now: negotiate, then open its transport. Nothing of it may succeed.
      let late;
      try {
        const n = await fetch(`${s.base}/client/negotiate?hub=${HUB}&negotiateVersion=1`, { method: 'POST',
          headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(2000) });
        late = `POST /client/negotiate answered ${n.status}`;
        if (n.ok) {
          const { connectionToken } = await n.json();
          const g = await fetch(`${s.base}/client/?hub=${HUB}&id=${connectionToken}&access_token=${token}`, {
            headers: transport === T.ServerSentEvents ? { Accept: 'text/event-stream' } : {}, signal: AbortSignal.timeout(1000) });
          late += `, then GET /client/ (${tname}) answered ${g.status}`;
          await g.body?.cancel().catch(() => {});
        }
      } catch (e) {
        late = `refused (${e.cause?.code || e.message})`;
      }
      const exit = await s.hub.exited;
      const exitedAfter = Date.now() - sigterm;
      const problems = [];
      if (!/^refused|answered 503$/.test(late)) {
        problems.push(`expected a hub that is shutting down to refuse a new client (connection refused or 503), saw: ${late}`);
      }
      if (exit.code !== 0) problems.push(`expected exit code 0, saw ${show(exit)}`);
      if (exitedAfter >= 1500) {
        problems.push(`expected the hub to exit soon after its only client got the Close (${closedAfter} ms after SIGTERM), ` +
          `saw it exit ${exitedAfter} ms after SIGTERM`);
      }
      assert.deepEqual(problems, [], `${problems.join(';\n')}\n--- hub log:\n${tail(s.hub.output(), 6)}`);
    });
  }
});

// ---- Server-Sent Events cannot carry MessagePack ----

test('ServerSentEvents + messagepack: the client refuses it, the hub refuses it', async (t) => {
  const s = await startStack(t, { ingest: false });
  const forced = client(t, `${s.base}/api?hub=${HUB}`, { transport: T.ServerSentEvents, protocol: 'messagepack' });
  await assert.rejects(forced.conn.start(), (e) => {
    assert.match(e.message, /ServerSentEvents.*does not support Binary/,
      `expected the client to refuse SSE for a binary protocol, saw ${show(e.message)}`);
    return true;
  }, 'the client started SSE + messagepack');
  assert.equal(forced.conn.state, signalR.HubConnectionState.Disconnected);

  // A hub offering only SSE: a messagepack client with default options finds no transport.
  const sseOnly = { broker: s.broker, port: await freePort(), hubArgs: ['--transports', 'ServerSentEvents'] };
  sseOnly.base = `http://127.0.0.1:${sseOnly.port}`;
  sseOnly.hub = await startHub(t, sseOnly);
  const neg = await (await fetch(`${sseOnly.base}/client/negotiate?hub=${HUB}&negotiateVersion=1`, { method: 'POST',
    headers: { Authorization: `Bearer ${jwt({ aud: `${sseOnly.base}/client/?hub=${HUB}`, exp: now() + 60, sub: 'x' })}` } })).json();
  same(neg.availableTransports, [{ transport: 'ServerSentEvents', transferFormats: ['Text'] }], 'the transports a SSE-only hub offers');
  const dflt = client(t, `${sseOnly.base}/api?hub=${HUB}`, { protocol: 'messagepack' });
  await assert.rejects(dflt.conn.start(), (e) => {
    assert.match(e.message, /Unable to connect to the server with any of the available transports/,
      `expected no usable transport, saw ${show(e.message)}`);
    return true;
  }, 'a messagepack client started against a hub offering only SSE');
  // ... while a JSON client with default options gets on.
  const json = client(t, `${sseOnly.base}/api?hub=${HUB}`, {});
  await start(json, sseOnly);
  await openedOver(sseOnly, json.conn.connectionId, 'ServerSentEvents');

  // A raw client that forces the issue gets the handshake error over the stream.
  const token = jwt({ aud: `${s.base}/client/?hub=${HUB}`, exp: now() + 60, sub: 'raw' });
  const n = await (await fetch(`${s.base}/client/negotiate?hub=${HUB}&negotiateVersion=1`,
    { method: 'POST', headers: { Authorization: `Bearer ${token}` } })).json();
  const q = `hub=${HUB}&id=${n.connectionToken}&access_token=${token}`;
  const ac = new AbortController();
  t.after(() => ac.abort());
  const stream = await fetch(`${s.base}/client/?${q}`, { headers: { Accept: 'text/event-stream' }, signal: ac.signal });
  assert.equal(stream.status, 200, `expected the event stream to open with 200, saw ${stream.status}`);
  let text = '';
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of stream.body) text += dec.decode(chunk, { stream: true });
  })().catch(() => {});
  const post = await fetch(`${s.base}/client/?${q}`, { method: 'POST', body: `{"protocol":"messagepack","version":1}${RS}`,
    signal: AbortSignal.timeout(5000) });
  assert.equal(post.status, 200, `expected the handshake POST to be taken with 200, saw ${post.status}`);
  await until(() => /\x1e/.test(text), 5000, () => `a handshake response on the stream; saw ${show(text)}`);
  const data = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('');
  same(JSON.parse(data.split(RS)[0]), { error: "Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format." },
    'the handshake response to messagepack over SSE');
  ac.abort();
  await reading;
});

// ---- transports switched off ----

/** A raw WebSocket upgrade with a valid connection token; resolves the HTTP status (101 when it opened). */
async function wsUpgradeStatus(t, s) {
  const token = jwt({ aud: `${s.base}/client/?hub=${HUB}`, exp: now() + 60, sub: 'raw' });
  const n = await (await fetch(`${s.base}/client/negotiate?hub=${HUB}&negotiateVersion=1`,
    { method: 'POST', headers: { Authorization: `Bearer ${token}` } })).json();
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/client/?hub=${HUB}&id=${n.connectionToken}&access_token=${token}`);
    ws.on('unexpected-response', (req, res) => { resolve(res.statusCode); ws.terminate(); });
    ws.on('open', () => { resolve(101); ws.terminate(); });
    ws.on('error', (e) => resolve(`error ${e.message}`));
    t.after(() => ws.terminate());
  });
}

/** A client with default options (no forced transport) must end up on `expected` and receive. */
async function lands(t, s, protocol, expected) {
  const c = client(t, `${s.base}/api?hub=${HUB}`, { protocol });
  await start(c, s);
  await openedOver(s, c.conn.connectionId, expected);
  const chosen = c.logs.filter((l) => /Selecting transport/.test(l));
  assert.ok(chosen.length && chosen[chosen.length - 1].includes(`'${expected}'`),
    `expected the ${protocol} client to log "Selecting transport '${expected}'", saw ${show(chosen)}`);
  await settle(s, c, `${protocol} over ${expected}`);
  return c;
}

test('--transports ServerSentEvents,LongPolling: default clients fall back (JSON to SSE, MessagePack to long polling); WebSocket upgrade 404', async (t) => {
  const s = await startStack(t, { ingest: false, hubArgs: ['--transports', 'ServerSentEvents,LongPolling'] });
  await lands(t, s, 'json', 'ServerSentEvents');
  await lands(t, s, 'messagepack', 'LongPolling');
  const status = await wsUpgradeStatus(t, s);
  assert.equal(status, 404, `expected a WebSocket upgrade to get 404, saw ${status}`);
});

test('--transports LongPolling: default clients use long polling; WebSocket upgrade and event stream 404', async (t) => {
  const s = await startStack(t, { ingest: false, hubArgs: ['--transports', 'LongPolling'] });
  await lands(t, s, 'json', 'LongPolling');
  await lands(t, s, 'messagepack', 'LongPolling');
  const status = await wsUpgradeStatus(t, s);
  assert.equal(status, 404, `expected a WebSocket upgrade to get 404, saw ${status}`);
  const token = jwt({ aud: `${s.base}/client/?hub=${HUB}`, exp: now() + 60, sub: 'raw' });
  const n = await (await fetch(`${s.base}/client/negotiate?hub=${HUB}&negotiateVersion=1`,
    { method: 'POST', headers: { Authorization: `Bearer ${token}` } })).json();
  same(n.availableTransports, [{ transport: 'LongPolling', transferFormats: ['Text', 'Binary'] }], 'the transports offered');
  const sse = await fetch(`${s.base}/client/?hub=${HUB}&id=${n.connectionToken}&access_token=${token}`,
    { headers: { Accept: 'text/event-stream' }, signal: AbortSignal.timeout(5000) });
  assert.equal(sse.status, 404, `expected an event stream request to get 404, saw ${sse.status}`);
  await sse.body?.cancel();
});
