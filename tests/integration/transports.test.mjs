// transports.test.mjs -- telewire-hub's transports driven with raw HTTP and raw sockets:
// Server-Sent Events, long polling, WebSocket framing errors, slow consumers, bad hub-protocol input.
// The rules checked are those of ASP.NET Core SignalR's TransportProtocols.md and HubProtocol.md,
// RFC 6455, and docs/config.md (queue limits, poll timeout).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { decode as mpDecode } from '@msgpack/msgpack';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { freePort, startBroker, startProc, waitFor, sleep } from '../harness/index.mjs';

const KEY = 'transports-test-key';
const RS = '\x1e';
const HANDSHAKE = `{"protocol":"json","version":1}${RS}`;

// ---------------------------------------------------------------- hub and tokens

function jwt(claims, key = KEY) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const data = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${data}.${crypto.createHmac('sha256', key).update(data).digest('base64url')}`;
}

/** A broker and a hub on free ports; resolves once a broadcast reaches a WebSocket watcher. */
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
  const gone = await Promise.race([hub.exited, sleep(150).then(() => null)]);
  if (gone) throw new Error(`telewire-hub exited early (${JSON.stringify(gone)}):\n${hub.output()}`);
  const base = `http://127.0.0.1:${port}`;
  const aud = `${base}/client/?hub=telemetry`;
  const h = {
    broker, port, hub, base, aud, pub,
    token: jwt({ aud, exp: Math.floor(Date.now() / 1000) + 3600, sub: 'tester' }),
    publish: (payload) => pub.publishAsync('telewire/hub/telemetry/x',
      typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 }),
    /** GET/POST/DELETE on /client/ with this test's access token. */
    client: (method, q, body, headers = {}) => fetch(`${base}/client/?hub=telemetry${q}`, {
      method, body, headers: { Authorization: `Bearer ${h.token}`, ...headers } }),
  };
  // The backplane subscription is live once a probe reaches a client.
  const watcher = await wsClient(t, h);
  let n = 0;
  await waitFor(async () => {
    await h.publish({ target: 'all', method: 'probe', args: [++n] });
    await sleep(100);
    return watcher.records.some((r) => r.target === 'probe');
  }, 10000, 'a probe through the backplane');
  watcher.ws.close();
  return h;
}

/** POST /client/negotiate: {connectionId, connectionToken}. */
async function negotiate(h) {
  const r = await fetch(`${h.base}/client/negotiate?hub=telemetry&negotiateVersion=1`,
    { method: 'POST', headers: { Authorization: `Bearer ${h.token}` } });
  assert.equal(r.status, 200, 'negotiate');
  return r.json();
}

/** The hub logged that connection `id` ended (the log line "connection ID closed ..."). */
function closedLine(h, id) {
  return h.hub.output().split('\n').find((l) => l.includes(`connection ${id} closed`));
}

const parseRecords = (text) => text.split(RS).slice(0, -1).map((s) => JSON.parse(s));

// ---------------------------------------------------------------- clients

/** A `ws` client that negotiated and completed the JSON handshake; collects records. */
async function wsClient(t, h, { onRecord } = {}) {
  const { connectionToken, connectionId } = await negotiate(h);
  const ws = new WebSocket(`ws://127.0.0.1:${h.port}/client/?hub=telemetry&id=${connectionToken}&access_token=${h.token}`);
  const c = { ws, id: connectionId, records: [], text: '', closed: null };
  ws.on('message', (data) => {
    c.text += data.toString();
    let i;
    while ((i = c.text.indexOf(RS)) >= 0) {
      const rec = JSON.parse(c.text.slice(0, i));
      c.text = c.text.slice(i + 1);
      if (!(c.ready && onRecord && onRecord(rec))) c.records.push(rec);
    }
  });
  ws.on('close', (code, reason) => { c.closed = { code, reason: reason.toString() }; });
  ws.on('error', () => {});
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  t.after(() => ws.terminate());
  ws.send(HANDSHAKE);
  c.ready = true;
  await waitFor(() => c.records.length >= 1, 5000, 'the WebSocket handshake response');
  assert.deepEqual(c.records.shift(), {}, 'handshake response');
  return c;
}

/**
 * One HTTP/1.1 request over a plain socket: exact bytes, a body that can be
 * trickled, a response body seen as it arrives (chunked encoding decoded).
 * Returns {sock, head: Promise<{status, headers}>, body: Buffer (grows), ended: Promise, write}.
 */
function rawHttp(port, method, target, headers = {}, body = null, { onBody } = {}) {
  const sock = net.connect(port, '127.0.0.1');
  const r = { sock, body: Buffer.alloc(0), status: 0, headers: {}, done: false, closed: false };
  const take = (b) => { if (onBody) onBody(b); else r.body = Buffer.concat([r.body, b]); };
  let buf = Buffer.alloc(0), state = 'head', need = 0, resolveHead, resolveEnd;
  r.head = new Promise((res) => { resolveHead = res; });
  r.ended = new Promise((res) => { resolveEnd = res; });
  const finish = () => { if (!r.done) { r.done = true; resolveEnd(r); } };
  const parse = () => {
    for (;;) {
      if (state === 'head') {
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        const lines = buf.subarray(0, i).toString('latin1').split('\r\n');
        buf = buf.subarray(i + 4);
        r.status = Number(lines[0].split(' ')[1]);
        for (const l of lines.slice(1)) {
          const k = l.indexOf(':');
          r.headers[l.slice(0, k).trim().toLowerCase()] = l.slice(k + 1).trim();
        }
        resolveHead({ status: r.status, headers: r.headers });
        if (/chunked/i.test(r.headers['transfer-encoding'] || '')) state = 'size';
        else if (r.headers['content-length'] !== undefined) { state = 'fixed'; need = Number(r.headers['content-length']); }
        else state = 'eof';
        if (state === 'fixed' && need === 0) { finish(); state = 'after'; }
      } else if (state === 'size') {
        const i = buf.indexOf('\r\n');
        if (i < 0) return;
        need = parseInt(buf.subarray(0, i).toString('latin1'), 16);
        buf = buf.subarray(i + 2);
        state = need === 0 ? 'trailer' : 'chunk';
      } else if (state === 'chunk') {
        if (buf.length < need + 2) return;
        take(buf.subarray(0, need));
        buf = buf.subarray(need + 2);
        state = 'size';
      } else if (state === 'trailer') {
        if (buf.indexOf('\r\n') < 0) return;
        state = 'after';
        finish();
      } else if (state === 'fixed') {
        const k = Math.min(need, buf.length);
        take(buf.subarray(0, k));
        buf = buf.subarray(k);
        need -= k;
        if (need === 0) { state = 'after'; finish(); }
        return;
      } else if (state === 'eof') {
        take(buf);
        buf = Buffer.alloc(0);
        return;
      } else {
        return;
      }
    }
  };
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); parse(); });
  sock.on('error', () => {});
  sock.on('close', () => { r.closed = true; resolveHead({ status: r.status, headers: r.headers }); finish(); });
  const head = [`${method} ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body !== null && headers['Content-Length'] === undefined) head.push(`Content-Length: ${Buffer.byteLength(body)}`);
  sock.write(`${head.join('\r\n')}\r\n\r\n`);
  if (body !== null) sock.write(body);
  r.write = (d) => sock.write(d);
  return r;
}

/** Server-Sent Events "data:" payloads of a body (comment-only events skipped). */
function sseEvents(body) {
  const text = body.toString('utf8');
  const blocks = text.split('\r\n\r\n');
  blocks.pop(); // an incomplete event, or '' after the last separator
  return blocks.map((b) => b.split('\r\n').filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(l.startsWith('data: ') ? 6 : 5)).join('\n')).filter((d) => d !== '');
}

/** A Server-Sent Events connection opened with a raw GET (after negotiate). With onRecord,
 * records are parsed as they come and handed over instead of being kept in the body. */
async function sseOpen(t, h, { handshake = HANDSHAKE, onRecord } = {}) {
  const { connectionToken: tok, connectionId: id } = await negotiate(h);
  let text = '';
  const onBody = onRecord && ((b) => {
    text += b.toString();
    let i;
    while ((i = text.indexOf('\r\n\r\n')) >= 0) {
      const ev = text.slice(0, i);
      text = text.slice(i + 4);
      const data = ev.split('\r\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      for (const rec of data.split(RS).slice(0, -1)) onRecord(JSON.parse(rec));
    }
  });
  const r = rawHttp(h.port, 'GET', `/client/?hub=telemetry&id=${tok}&access_token=${h.token}`,
    { Accept: 'text/event-stream' }, null, { onBody });
  t.after(() => r.sock.destroy());
  const head = await r.head;
  assert.equal(head.status, 200, 'SSE GET status');
  const c = {
    r, tok, id,
    events: () => sseEvents(r.body),
    records: () => parseRecords(sseEvents(r.body).join('')),
    post: (body) => h.client('POST', `&id=${tok}`, body),
  };
  if (handshake) {
    const p = await c.post(handshake);
    assert.equal(p.status, 200, 'handshake POST status');
    if (handshake === HANDSHAKE && !onRecord) {
      await waitFor(() => c.events().length >= 1, 5000, 'the SSE handshake response');
      assert.equal(c.events()[0], `{}${RS}`, 'handshake response event');
    }
  }
  return c;
}

/** A long-polling connection: negotiate, first poll, handshake POST. */
async function lpOpen(h, { handshake = HANDSHAKE } = {}) {
  const { connectionToken: tok, connectionId: id } = await negotiate(h);
  const c = {
    tok, id,
    poll: async () => {
      const t0 = Date.now();
      const r = await h.client('GET', `&id=${tok}`);
      const buf = Buffer.from(await r.arrayBuffer());
      return { status: r.status, buf, text: buf.toString('utf8'), ms: Date.now() - t0, type: r.headers.get('content-type') };
    },
    post: (body) => h.client('POST', `&id=${tok}`, body),
  };
  c.first = await c.poll();
  if (handshake) assert.equal((await c.post(handshake)).status, 200, 'handshake POST status');
  return c;
}

// ---------------------------------------------------------------- raw WebSocket

/** A client frame (masked unless mask is false). */
function wsFrame(opcode, payload, { mask = true, fin = true } = {}) {
  const p = Buffer.from(payload);
  const len = p.length;
  const head = [(fin ? 0x80 : 0) | opcode];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len <= 0xffff) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(m | 127);
    for (let i = 7; i >= 0; i--) head.push(Number((BigInt(len) >> BigInt(8 * i)) & 0xffn));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), p]);
  const key = crypto.randomBytes(4);
  const out = Buffer.from(p);
  for (let i = 0; i < out.length; i++) out[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, out]);
}

/**
 * A WebSocket over a raw net socket: upgrade by hand, parse server frames.
 * {sock, frames: [{opcode, payload}], records, close: {code, reason}|null, ended, send(buf)}.
 */
async function wsRaw(t, h, { handshake = true, echoClose = true } = {}) {
  const { connectionToken, connectionId } = await negotiate(h);
  const sock = net.connect(h.port, '127.0.0.1');
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  t.after(() => sock.destroy());
  const c = { sock, id: connectionId, frames: [], records: [], text: '', close: null, afterClose: [], ended: false, status: 0 };
  let buf = Buffer.alloc(0), upgraded = false, resolveUp;
  const up = new Promise((res) => { resolveUp = res; });
  const parse = () => {
    if (!upgraded) {
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      c.status = Number(buf.subarray(0, i).toString('latin1').split(' ')[1]);
      buf = buf.subarray(i + 4);
      upgraded = true;
      resolveUp();
    }
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1] & 0x7f, off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      if (buf[1] & 0x80) off += 4; // servers must not mask; tolerated here, checked below
      if (buf.length < off + len) return;
      const f = { opcode: buf[0] & 0x0f, fin: !!(buf[0] & 0x80), masked: !!(buf[1] & 0x80), payload: buf.subarray(off, off + len) };
      buf = buf.subarray(off + len);
      c.frames.push(f);
      if (c.close) {
        c.afterClose.push(`opcode ${f.opcode} ${JSON.stringify(f.payload.toString().slice(0, 120))}`);
      } else if (f.opcode === 8) {
        c.close = { code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005, reason: f.payload.subarray(2).toString() };
        // RFC 6455 5.5.1: a client answers a Close with a Close, then waits for the server to close TCP.
        if (echoClose && !sock.destroyed) sock.write(wsFrame(8, f.payload.subarray(0, 2)));
      } else if (f.opcode === 1) {
        c.text += f.payload.toString();
        let i;
        while ((i = c.text.indexOf(RS)) >= 0) {
          c.records.push(JSON.parse(c.text.slice(0, i)));
          c.text = c.text.slice(i + 1);
        }
      }
    }
  };
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); parse(); });
  sock.on('error', () => {});
  sock.on('close', () => { c.ended = true; });
  const key = crypto.randomBytes(16).toString('base64');
  sock.write(`GET /client/?hub=telemetry&id=${connectionToken}&access_token=${h.token} HTTP/1.1\r\n` +
    `Host: 127.0.0.1:${h.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await up;
  assert.equal(c.status, 101, 'WebSocket upgrade status');
  c.send = (b) => sock.write(b);
  if (handshake) {
    c.send(wsFrame(1, HANDSHAKE));
    await waitFor(() => c.records.length >= 1, 5000, 'the raw WebSocket handshake response');
    assert.deepEqual(c.records.shift(), {}, 'handshake response');
  }
  return c;
}

/** Resident memory of a process in KiB. */
function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

// ================================================================ 1. Server-Sent Events

test('Server-Sent Events: stream, POSTs and their refusals, client leaving', async (t) => {
  const h = await startHub(t, ['--keepalive', '1']);
  const a = await sseOpen(t, h);
  assert.equal(a.r.headers['content-type'], 'text/event-stream');

  // Records arrive as "data: <record>\r\n\r\n" events, one per record.
  await h.publish({ target: 'all', method: 'telemetry', args: [{ n: 1 }] });
  await h.publish([{ target: 'all', method: 'telemetry', args: [{ n: 2 }] },
    { target: 'all', method: 'alert', args: ['x', 3] }]);
  await waitFor(() => a.records().filter((r) => r.type === 1).length >= 3, 5000, 'three records over SSE');
  const text = a.r.body.toString();
  assert.ok(text.includes(`data: {"type":1,"target":"telemetry","arguments":[{"n":1}]}${RS}\r\n\r\n`),
    `expected the record framed as "data: ...\\r\\n\\r\\n", saw ${JSON.stringify(text)}`);
  assert.deepEqual(a.records().filter((r) => r.type === 1),
    [{ type: 1, target: 'telemetry', arguments: [{ n: 1 }] }, { type: 1, target: 'telemetry', arguments: [{ n: 2 }] },
      { type: 1, target: 'alert', arguments: ['x', 3] }]);

  // POST: unknown id 404, no id 400.
  let r = await h.client('POST', '&id=nosuchconnectiontoken', `{"type":6}${RS}`);
  assert.equal(r.status, 404, 'POST with an unknown id');
  r = await h.client('POST', '', `{"type":6}${RS}`);
  assert.equal(r.status, 400, 'POST without id');
  assert.match((await r.json()).error, /'id' is required/);

  // A second POST while one is still being received: 409; the first then completes.
  const ping = `{"type":6}${RS}`;
  const slowBody = ping.repeat(1000);
  const slow = rawHttp(h.port, 'POST', `/client/?hub=telemetry&id=${a.tok}`,
    { Authorization: `Bearer ${h.token}`, 'Content-Length': String(slowBody.length), 'Content-Type': 'text/plain' });
  slow.write(slowBody.slice(0, ping.length));
  await sleep(300);
  r = await a.post(ping);
  assert.equal(r.status, 409, 'a POST while another POST of the connection is in progress');
  assert.match((await r.json()).error, /Another POST is in progress/);
  slow.write(slowBody.slice(ping.length));
  const slowHead = await slow.head;
  assert.equal(slowHead.status, 200, 'the trickled POST once complete');
  slow.sock.destroy();
  assert.equal((await a.post(ping)).status, 200, 'a POST after the trickled one');

  // POST on a WebSocket connection's token: 405.
  const { connectionToken: wsTok } = await negotiate(h);
  const ws = new WebSocket(`ws://127.0.0.1:${h.port}/client/?hub=telemetry&id=${wsTok}&access_token=${h.token}`);
  ws.on('error', () => {});
  t.after(() => ws.terminate());
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  r = await h.client('POST', `&id=${wsTok}`, ping);
  assert.equal(r.status, 405, 'POST on a WebSocket connection');

  // A second event stream on the same token: 409; a long poll on it: 400 (transport change).
  const again = rawHttp(h.port, 'GET', `/client/?hub=telemetry&id=${a.tok}&access_token=${h.token}`, { Accept: 'text/event-stream' });
  t.after(() => again.sock.destroy());
  assert.equal((await again.head).status, 409, 'a second SSE GET on the same token');
  r = await h.client('GET', `&id=${a.tok}`);
  assert.equal(r.status, 400, 'a long poll on an SSE token');
  assert.match((await r.json()).error, /Cannot change transports/);

  // A body over 1 MiB: 413.
  r = await a.post(Buffer.alloc(1024 * 1024 + 1, 0x20));
  assert.equal(r.status, 413, 'a POST body over 1 MiB');

  // The client closes the event stream: the hub ends the connection; a later POST gets 404.
  const t0 = Date.now();
  a.r.sock.destroy();
  await waitFor(() => closedLine(h, a.id), 6000, `the hub to log "connection ${a.id} closed" after the client left`);
  const leftMs = Date.now() - t0;
  t.diagnostic(`SSE client leaving noticed after ${leftMs} ms (keepalive 1 s): ${closedLine(h, a.id)}`);
  assert.match(closedLine(h, a.id), /client closed the event stream/, 'the reason logged');
  await sleep(100);
  r = await h.client('POST', `&id=${a.tok}`, ping);
  assert.equal(r.status, 404, 'a POST after the event stream was closed');
});

// ================================================================ 2. Long polling

test('long polling: immediate answers, parking, timeout, superseded polls, DELETE, tokens', async (t) => {
  const h = await startHub(t, ['--poll-timeout', '1']);
  const c = await lpOpen(h, { handshake: null });
  assert.equal(c.first.status, 200, 'first poll status');
  assert.equal(c.first.buf.length, 0, 'first poll body is empty');
  assert.ok(c.first.ms < 900, `first poll answered at once, took ${c.first.ms} ms`);
  assert.equal((await c.post(HANDSHAKE)).status, 200, 'handshake POST');

  // The handshake response is queued: the next poll answers at once with it.
  let p = await c.poll();
  assert.equal(p.status, 200);
  assert.equal(p.text, `{}${RS}`, 'the handshake response');
  assert.ok(p.ms < 900, `a poll with data queued answers at once, took ${p.ms} ms`);

  // Records queued while no poll waits come with the next poll, together, as JSON text.
  await h.publish({ target: 'all', method: 'telemetry', args: [1] });
  await h.publish({ target: 'all', method: 'telemetry', args: [2] });
  await sleep(300);
  p = await c.poll();
  assert.equal(p.status, 200);
  assert.match(p.type, /^text\/plain/);
  assert.ok(p.ms < 900, `a poll with data queued answers at once, took ${p.ms} ms`);
  assert.equal(p.text, `{"type":1,"target":"telemetry","arguments":[1]}${RS}{"type":1,"target":"telemetry","arguments":[2]}${RS}`);

  // Nothing to say: the poll parks and is answered 200 empty after --poll-timeout (1 s).
  p = await c.poll();
  assert.equal(p.status, 200, 'an expired poll');
  assert.equal(p.buf.length, 0, 'an expired poll is empty');
  assert.ok(p.ms >= 900 && p.ms <= 3000, `an empty poll is answered after ~1 s, took ${p.ms} ms`);

  // A parked poll gets data as soon as it is published.
  let pending = c.poll();
  await sleep(200);
  await h.publish({ target: 'all', method: 'telemetry', args: [3] });
  p = await pending;
  assert.equal(p.status, 200);
  assert.equal(p.text, `{"type":1,"target":"telemetry","arguments":[3]}${RS}`);
  assert.ok(p.ms < 900, `a parked poll is answered when data comes, took ${p.ms} ms`);

  // A second poll while one is parked: the parked one gets 204, the new one goes on.
  const older = c.poll();
  await sleep(200);
  const newer = c.poll();
  const o = await older;
  assert.equal(o.status, 204, 'the superseded poll');
  await sleep(100);
  await h.publish({ target: 'all', method: 'telemetry', args: [4] });
  p = await newer;
  assert.equal(p.status, 200, 'the newer poll');
  assert.equal(p.text, `{"type":1,"target":"telemetry","arguments":[4]}${RS}`, 'the newer poll gets the data');

  // Tokens and ids: missing id 400, unknown id 404, missing/expired/wrong-key token 401.
  let r = await h.client('GET', '');
  assert.equal(r.status, 400, 'a poll without id');
  r = await h.client('GET', '&id=nosuchconnectiontoken');
  assert.equal(r.status, 404, 'a poll with an unknown id');
  const now = Math.floor(Date.now() / 1000);
  for (const [name, auth] of [['no token', undefined],
    ['expired token', `Bearer ${jwt({ aud: h.aud, exp: now - 120, sub: 'tester' })}`],
    ['wrong key', `Bearer ${jwt({ aud: h.aud, exp: now + 60, sub: 'tester' }, 'another-key')}`]]) {
    r = await fetch(`${h.base}/client/?hub=telemetry&id=${c.tok}`, { headers: auth ? { Authorization: auth } : {} });
    assert.equal(r.status, 401, `a poll with ${name}`);
    assert.equal(r.headers.get('www-authenticate'), 'Bearer', `WWW-Authenticate for ${name}`);
    assert.match((await r.json()).error, /^Unauthorized/, name);
  }

  // DELETE: 202; the parked poll gets 204; a later poll 404.
  pending = c.poll();
  await sleep(200);
  r = await h.client('DELETE', `&id=${c.tok}`);
  assert.equal(r.status, 202, 'DELETE');
  p = await pending;
  assert.equal(p.status, 204, 'the poll parked when DELETE came');
  assert.ok(p.ms < 900, `the parked poll is answered at the DELETE, not at the poll timeout (${p.ms} ms)`);
  await sleep(200);
  p = await c.poll();
  assert.equal(p.status, 404, 'a poll after DELETE');
  await waitFor(() => closedLine(h, c.id), 3000, 'the hub to log the closed LP connection');
  assert.match(closedLine(h, c.id), /DELETE/);

  // MessagePack over long polling: binary bodies, each message with a varint length prefix.
  const m = await lpOpen(h, { handshake: `{"protocol":"messagepack","version":1}${RS}` });
  p = await m.poll();
  assert.equal(p.status, 200);
  assert.equal(p.text, `{}${RS}`, 'the handshake response is JSON text');
  await h.publish([{ target: 'all', method: 'telemetry', args: [{ v: 1 }] },
    { target: 'all', method: 'telemetry', args: ['x'.repeat(200)] }]);
  await sleep(300);
  p = await m.poll();
  assert.equal(p.status, 200);
  assert.equal(p.type, 'application/octet-stream');
  const msgs = [], prefixes = [];
  let off = 0;
  while (off < p.buf.length) {
    let len = 0, shift = 0, b;
    const start = off;
    do { b = p.buf[off++]; len |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
    prefixes.push(off - start);
    assert.ok(off + len <= p.buf.length, `a length prefix of ${len} past the end of a ${p.buf.length}-byte body`);
    msgs.push(mpDecode(p.buf.subarray(off, off + len)));
    off += len;
  }
  assert.equal(msgs.length, 2, `two MessagePack messages, saw ${JSON.stringify(msgs)}`);
  // [1 (Invocation), headers, invocationId, target, arguments, ...]
  assert.deepEqual(msgs.map((x) => [x[0], x[3], x[4]]), [[1, 'telemetry', [{ v: 1 }]], [1, 'telemetry', ['x'.repeat(200)]]]);
  assert.deepEqual(prefixes, [1, 2], 'varint length prefixes: one byte below 128, two bytes for the 200-byte message');
});

// ================================================================ 3. WebSocket framing errors

test('WebSocket: bad frames are refused with the RFC 6455 close codes; another client keeps receiving', async (t) => {
  const h = await startHub(t);
  const good = await wsClient(t, h);
  // Broadcasts every 100 ms while bad clients come and go: the good client must get each one.
  const sent = [];
  let publishing = Promise.resolve();
  const ticker = setInterval(() => {
    const n = sent.length + 1;
    sent.push(n);
    publishing = publishing.then(() => h.publish({ target: 'all', method: 'telemetry', args: [n] }));
  }, 100);
  t.after(() => clearInterval(ticker));
  const goodGot = () => good.records.filter((r) => r.target === 'telemetry').map((r) => r.arguments[0]);
  const problems = [];

  // A ping gets a pong with the same payload; server frames are unmasked.
  const p = await wsRaw(t, h);
  p.send(wsFrame(9, 'are you there'));
  await waitFor(() => p.frames.some((f) => f.opcode === 10), 3000, 'a pong');
  assert.equal(p.frames.find((f) => f.opcode === 10).payload.toString(), 'are you there', 'the pong echoes the ping');
  assert.ok(p.frames.every((f) => !f.masked), 'server frames are not masked');

  // Each bad frame fails the connection (RFC 6455 7.1.7): the hub sends a Close with the
  // expected code, nothing after it, and closes TCP (the client answers the Close at once).
  const failsWith = async (name, code, frame) => {
    const c = await wsRaw(t, h);
    c.send(frame);
    const t0 = Date.now();
    try {
      await waitFor(() => c.close || c.ended, 3000, `a close frame after ${name}`);
    } catch {
      problems.push(`${name}: expected close ${code}, saw neither a close frame nor the end of the connection in 3 s`);
      return;
    }
    if (!c.close) problems.push(`${name}: expected close ${code}, the hub dropped TCP without a close frame`);
    else if (c.close.code !== code) problems.push(`${name}: expected close code ${code}, saw ${c.close.code} "${c.close.reason}"`);
    try {
      await waitFor(() => c.ended, 5000, 'the socket to close');
    } catch {
      problems.push(`${name}: the hub sent close ${c.close?.code}, got the client's Close back, and kept the TCP connection open for more than 5 s`);
    }
    if (c.afterClose.length) {
      problems.push(`${name}: ${c.afterClose.length} frame(s) after the close frame, e.g. ${c.afterClose.slice(0, 2).join('; ')}`);
    }
    t.diagnostic(`${name}: close ${c.close?.code} "${c.close?.reason}", TCP ${c.ended ? `closed after ${Date.now() - t0} ms` : 'still open after 5 s'}; ` +
      `hub: ${closedLine(h, c.id) || '(no "closed" line)'}`);
  };
  // Control frames over 125 bytes or fragmented: the hub must fail the connection; a Close
  // frame is recommended (SHOULD), and if one is sent it carries 1002.
  const isFailed = async (name, frame) => {
    const c = await wsRaw(t, h);
    c.send(frame);
    try {
      await waitFor(() => c.ended, 5000, 'the socket to close');
    } catch {
      problems.push(`${name}: the connection was not failed within 5 s (close frame: ${JSON.stringify(c.close)})`);
    }
    if (c.close && c.close.code !== 1002) problems.push(`${name}: expected close 1002, saw ${c.close.code}`);
    t.diagnostic(`${name}: ${c.close ? `close ${c.close.code}` : 'no close frame'}; TCP ${c.ended ? 'closed' : 'open'}; ` +
      `hub: ${closedLine(h, c.id) || '(no "closed" line)'}`);
  };
  await Promise.all([
    failsWith('an unmasked client frame', 1002, wsFrame(1, `{"type":6}${RS}`, { mask: false })),
    failsWith('invalid UTF-8 in a text frame', 1007, wsFrame(1, Buffer.from([0x7b, 0xc3, 0x28, 0xff, 0x7d, 0x1e]))),
    failsWith('a frame over 1 MiB', 1009, wsFrame(2, Buffer.alloc(1024 * 1024 + 16, 0x61))),
    isFailed('a ping with a 126-byte payload', wsFrame(9, Buffer.alloc(126, 0x61))),
    isFailed('a fragmented ping', wsFrame(9, 'x', { fin: false })),
  ]);
  clearInterval(ticker);
  await publishing;
  await waitFor(() => goodGot().length >= sent.length, 5000, `the good client to get ${sent.length} broadcasts`);
  assert.deepEqual(goodGot(), sent, 'the good client gets every broadcast in order');
  assert.equal(good.closed, null, 'the good client stays open');
  assert.deepEqual(problems, [], 'every bad frame refused as RFC 6455 says');
});

// ================================================================ 4. Slow consumers

/** A raw SSE connection that does the handshake and then stops reading its socket. */
async function stalledSse(t, h) {
  const c = await sseOpen(t, h);
  c.r.sock.pause();
  return c;
}

/** A raw WebSocket that does the handshake and then stops reading its socket. */
async function stalledWs(t, h) {
  const c = await wsRaw(t, h);
  c.sock.pause();
  return c;
}

/**
 * Publishes n envelopes of ~200 bytes (10 per MQTT message); keyOf(i) gives the key or null.
 * Paced by the readers that keep up: at most `window` envelopes ahead of the slowest of them
 * (reached(): the count it has), so that only the stalled clients fall behind.
 */
async function flood(h, n, keyOf, tag, reached, window = 3000) {
  const pad = 'p'.repeat(140);
  const batch = [];
  const pubs = [];
  for (let i = 0; i < n; i++) {
    const key = keyOf(i);
    const env = { target: 'all', method: 'telemetry', args: [{ tag, seq: i, dev: key, pad }] };
    if (key) env.key = key;
    batch.push(env);
    if (batch.length === 10 || i === n - 1) {
      pubs.push(h.publish(batch.splice(0)));
      if (pubs.length >= 100) {
        await Promise.all(pubs.splice(0));
        await waitFor(() => reached() >= i + 1 - window, 20000, `the reading clients to get within ${window} of ${i + 1}` +
          ` (they are at ${reached()})`);
      }
    }
  }
  await Promise.all(pubs);
}

test('slow consumers: drop then close without keys, conflate with keys; others get everything; memory bounded', async (t) => {
  const N = 30000;
  const h = await startHub(t, ['--max-queue', '50', '--client-timeout', '300', '--backplane-queue', '100000']);
  // 20 clients that read everything, keeping only the sequence numbers (cheap, so they keep up).
  const normal = [];
  for (let i = 0; i < 20; i++) {
    const got = { a: [], b: [] };
    const c = await wsClient(t, h, { onRecord: (r) => {
      if (r.type !== 1 || r.target !== 'telemetry') return false;
      got[r.arguments[0].tag].push(r.arguments[0].seq);
      return true;
    } });
    c.got = got;
    normal.push(c);
  }
  const seqs = (c, tag) => c.records.filter((r) => r.target === 'telemetry' && r.arguments[0].tag === tag).map((r) => r.arguments[0].seq);
  // The last message of a flood is the newest: no policy drops it, so it marks the end.
  const doneFor = (c, tag) => c.records.some((r) => r.target === 'telemetry' && r.arguments[0].tag === tag && r.arguments[0].seq === N - 1);
  const normalDone = (tag) => normal.every((c) => c.got[tag].at(-1) === N - 1);
  const normalState = (tag) => `normal clients got ${normal.map((c) => c.got[tag].length).join(',')} of ${N}; closed: ` +
    `${normal.filter((c) => c.closed).length}; hub lines:\n${h.hub.output().split('\n').filter((l) => /closed|warn|error/.test(l)).slice(-20).join('\n')}`;
  const all = [...Array(N).keys()];

  // (a) no key: the stalled ones fall a whole queue behind and are closed.
  const sws = await stalledWs(t, h);
  const ssse = await stalledSse(t, h);
  const rss0 = rssKiB(h.hub.pid);
  const t0 = Date.now();
  await flood(h, N, () => null, 'a', () => Math.min(...normal.map((c) => c.got.a.length)));
  await waitFor(() => normalDone('a'), 60000, 'every normal client to get the whole flood (a)')
    .catch((e) => { throw new Error(`${e.message}\n${normalState('a')}`); });
  const rssA = rssKiB(h.hub.pid);
  t.diagnostic(`(a) ${N} envelopes to 22 clients in ${Date.now() - t0} ms; hub VmRSS ${rss0} KiB before, ${rssA} KiB after (+${((rssA - rss0) / 1024).toFixed(1)} MiB)`);
  for (const [i, c] of normal.entries()) {
    assert.equal(c.got.a.length, N, `normal client ${i} got ${c.got.a.length} of ${N}`);
    assert.deepEqual(c.got.a, all, `normal client ${i}: every message, in order`);
  }
  await waitFor(() => closedLine(h, sws.id), 10000, `the stalled WebSocket ${sws.id} to be closed`);
  assert.match(closedLine(h, sws.id), /slow consumer/, 'the stalled WebSocket is closed as a slow consumer');
  await waitFor(() => closedLine(h, ssse.id), 10000, `the stalled SSE client ${ssse.id} to be closed`);
  assert.match(closedLine(h, ssse.id), /slow consumer/, 'the stalled SSE client is closed as a slow consumer');
  // AddressSanitizer keeps freed memory in quarantine (256 MiB): RSS says nothing there.
  if (process.env.TW_SANITIZED !== '1') {
    assert.ok(rssA - rss0 < 60 * 1024, `hub RSS grew by ${rssA - rss0} KiB, expected < 60 MiB`);
  }
  // When the stalled clients read again: what they got is in order, then the connection ends.
  sws.sock.resume();
  ssse.r.sock.resume();
  await waitFor(() => sws.ended, 10000, 'the stalled WebSocket to be closed once it reads again');
  if (sws.close) {
    assert.equal(sws.close.code, 1008, 'a slow consumer is closed with 1008');
    assert.match(sws.records.find((r) => r.type === 7)?.error ?? '', /Slow consumer/, 'a SignalR Close before the WebSocket close');
  }
  const sgot = seqs(sws, 'a');
  assert.ok(sgot.length < N, `the stalled WebSocket got ${sgot.length} of ${N}`);
  assert.ok(sgot.every((s, i) => i === 0 || s > sgot[i - 1]), 'what the stalled WebSocket got is in order');
  await waitFor(() => ssse.r.done, 10000, 'the event stream of the stalled SSE client to end once it reads again');
  const ssseGot = ssse.records().filter((r) => r.target === 'telemetry').map((r) => r.arguments[0].seq);
  assert.ok(ssseGot.every((s, i) => i === 0 || s > ssseGot[i - 1]), 'what the stalled SSE client got is in order');
  assert.match(ssse.records().find((r) => r.type === 7)?.error ?? '', /Slow consumer/, 'the SSE client gets a Close naming the reason');
  t.diagnostic(`(a) once reading again: the stalled WebSocket got ${sgot.length} of ${N}, then ` +
    `${sws.close ? `close ${sws.close.code}` : 'TCP closed without a close frame'}; the stalled SSE client got ${ssseGot.length}, then a Close`);

  // (b) keyed by 10 devices: the stalled ones are conflated, not closed; the latest value per key comes last.
  // outq.c: when the queue is full, a message pushes out the oldest queued one with the same key
  // (not counted as a drop), else the oldest. dev-0..dev-8 take turns; dev-9 speaks twice, the
  // second time 300 messages before the end: drop-oldest would lose that value, conflation keeps it.
  const kws = await stalledWs(t, h);
  const ksse = await stalledSse(t, h);
  const rss1 = rssKiB(h.hub.pid);
  const keyOf = (i) => (i === 5 || i === N - 300 ? 'dev-9' : `dev-${i % 9}`);
  await flood(h, N, keyOf, 'b', () => Math.min(...normal.map((c) => c.got.b.length)));
  await waitFor(() => normalDone('b'), 60000, 'every normal client to get the whole flood (b)')
    .catch((e) => { throw new Error(`${e.message}\n${normalState('b')}`); });
  const rssB = rssKiB(h.hub.pid);
  t.diagnostic(`(b) hub VmRSS ${rss1} KiB before, ${rssB} KiB after (+${((rssB - rss1) / 1024).toFixed(1)} MiB)`);
  for (const [i, c] of normal.entries()) assert.deepEqual(c.got.b, all, `normal client ${i}: every keyed message, in order`);
  await sleep(1500);
  assert.equal(closedLine(h, kws.id), undefined, 'the stalled WebSocket with keyed messages stays open');
  assert.equal(closedLine(h, ksse.id), undefined, 'the stalled SSE client with keyed messages stays open');
  if (process.env.TW_SANITIZED !== '1') {
    assert.ok(rssB - rss1 < 60 * 1024, `hub RSS grew by ${rssB - rss1} KiB, expected < 60 MiB`);
  }
  kws.sock.resume();
  ksse.r.sock.resume();
  await waitFor(() => doneFor(kws, 'b'), 15000, 'the resumed WebSocket to reach the end of flood (b)');
  await waitFor(() => ksse.records().some((r) => r.target === 'telemetry' && r.arguments[0].seq === N - 1), 15000,
    'the resumed SSE client to reach the end of flood (b)');
  const lastPerKey = {};
  for (let i = 0; i < N; i++) lastPerKey[keyOf(i)] = i;
  for (const [name, recs] of [['WebSocket', kws.records], ['SSE', ksse.records()]]) {
    const got = recs.filter((r) => r.target === 'telemetry' && r.arguments[0].tag === 'b').map((r) => r.arguments[0]);
    assert.ok(got.length < N, `${name}: conflation dropped older values (got ${got.length} of ${N})`);
    assert.ok(got.every((x, i) => i === 0 || x.seq > got[i - 1].seq), `${name}: what it got is in order`);
    const last = {};
    for (const x of got) last[x.dev] = x.seq;
    assert.deepEqual(last, lastPerKey, `${name}: per key, the latest value comes last`);
    assert.equal(recs.filter((r) => r.type === 7).length, 0, `${name}: no Close`);
    t.diagnostic(`(b) stalled ${name} got ${got.length} of ${N} after resuming; last per key ok`);
  }
  assert.equal(kws.close, null, 'no WebSocket close for the keyed stalled client');
});

test('a burst bigger than the queue: WebSocket and SSE readers that keep reading get all of it', async (t) => {
  // Default --max-queue (1000). One backplane payload of 2100 envelopes (~400 KB) reaches the
  // hub's loop at once. Both clients read as fast as they can: neither is a slow consumer.
  const h = await startHub(t);
  const N = 2100;
  const wsGot = [], sseGot = [];
  await wsClient(t, h, { onRecord: (r) => r.target === 'telemetry' && wsGot.push(r.arguments[0].seq) });
  const sse = await sseOpen(t, h, { onRecord: (r) => { if (r.target === 'telemetry') sseGot.push(r.arguments[0].seq); } });
  await sleep(200);
  const pad = 'p'.repeat(140);
  await h.publish([...Array(N).keys()].map((i) => ({ target: 'all', method: 'telemetry', args: [{ seq: i, pad }] })));
  const all = [...Array(N).keys()];
  await waitFor(() => wsGot.length >= N, 10000, `the WebSocket reader to get ${N} (it has ${wsGot.length})`);
  assert.deepEqual(wsGot, all, 'the WebSocket reader gets the whole burst in order');
  await waitFor(() => sseGot.length >= N || closedLine(h, sse.id), 10000, `the SSE reader to get ${N} (it has ${sseGot.length})`);
  await sleep(300);
  t.diagnostic(`burst of ${N}: WebSocket reader got ${wsGot.length}, SSE reader got ${sseGot.length}; ` +
    `hub: ${closedLine(h, sse.id) || 'SSE connection open'}`);
  assert.equal(closedLine(h, sse.id), undefined, 'the SSE reader, which reads everything at once, is not closed as a slow consumer');
  assert.equal(sseGot.length, N, `the SSE reader gets the whole burst: expected ${N}, saw ${sseGot.length}`);
  assert.deepEqual(sseGot, all, 'the SSE reader gets the whole burst in order');
});

test('WebSocket: frames split across reads, fragmented messages with a ping inside and idle pauses between are read whole', async (t) => {
  // Between reads the hub frees its frame reader when no frame is half read: every cut
  // below leaves it holding part of a frame or of a message, then waits for a read of its own.
  const h = await startHub(t);
  const c = await wsRaw(t, h);
  const inv = (id, pad = '') => `{"type":1,"invocationId":"${id}","target":"JoinGroup","arguments":["g${pad}"]}${RS}`;
  const done = () => c.records.filter((r) => r.type === 3).map((r) => r.invocationId);
  const pause = () => sleep(80);
  const sendCut = async (buf, cuts) => {
    let at = 0;
    for (const cut of [...cuts, buf.length]) {
      c.send(buf.subarray(at, cut));
      at = cut;
      await pause();
    }
  };

  // 1: cut inside the 2-byte header, inside the mask key and inside the payload.
  await sendCut(wsFrame(1, inv(1)), [1, 4, 10]);
  await waitFor(() => done().includes('1'), 3000, 'the completion of invocation 1');
  await pause(); // idle: nothing held

  // 2: one text message in three fragments, a ping between the first two.
  const msg = inv(2);
  await sendCut(wsFrame(1, msg.slice(0, 20), { fin: false }), [7]);
  c.send(wsFrame(9, 'mid-message'));
  await waitFor(() => c.frames.some((f) => f.opcode === 10), 3000, 'a pong in the middle of a fragmented message');
  await pause();
  c.send(wsFrame(0, msg.slice(20, 40), { fin: false }));
  await pause();
  assert.ok(!done().includes('2'), 'no completion before the last fragment');
  c.send(wsFrame(0, msg.slice(40)));
  await waitFor(() => done().includes('2'), 3000, 'the completion of the fragmented invocation 2');

  // 3: a 16-bit length cut between its two bytes; 4: a frame ending in the same read that
  // begins the next one, whose header is then finished by a later read.
  const f3 = wsFrame(1, inv(3, 'x'.repeat(300)));
  await sendCut(f3, [3]);
  const f4 = wsFrame(1, inv(4)), f5 = wsFrame(1, inv(5));
  const both = Buffer.concat([f4, f5]);
  await sendCut(both, [f4.length + 1, f4.length + 6]);
  await waitFor(() => done().length >= 5, 3000, 'completions 3, 4 and 5');
  assert.deepEqual(done(), ['1', '2', '3', '4', '5'], 'every invocation answered, in order');
  assert.equal(c.frames.find((f) => f.opcode === 10).payload.toString(), 'mid-message', 'the pong echoes the ping');

  // Still open both ways: a broadcast arrives, and a Close is answered with a Close.
  await h.publish({ target: 'all', method: 'after', args: [1] });
  await waitFor(() => c.records.some((r) => r.target === 'after'), 3000, 'a broadcast after the split frames');
  assert.equal(c.close, null, `no close from the hub (saw ${JSON.stringify(c.close)})`);
  c.send(wsFrame(8, Buffer.from([0x03, 0xe8])));
  await waitFor(() => c.close && c.ended, 3000, 'the Close answered and the socket closed');
  assert.equal(c.close.code, 1000, 'the Close is echoed with code 1000');
});

test('HTTP: a 1 KB cookie passes negotiate and the WebSocket upgrade; a 3 KB cookie gets 431 and the hub goes on', async (t) => {
  // MHD's per-connection pool (HTTP_MEMORY_LIMIT, 4096 bytes, push/http.c) bounds a request's
  // headers to about 1.5 KB; past that MHD itself answers 431 and closes.
  const h = await startHub(t);
  const cookie = `session=${'c'.repeat(1024)}`;
  const ask = (headers) => {
    const r = rawHttp(h.port, 'POST', '/client/negotiate?hub=telemetry&negotiateVersion=1',
      { Authorization: `Bearer ${h.token}`, ...headers }, '');
    t.after(() => r.sock.destroy());
    return r;
  };
  const ok = ask({ Cookie: cookie });
  assert.equal((await ok.head).status, 200, 'negotiate with a 1 KB cookie');
  await ok.ended;
  assert.ok(JSON.parse(ok.body.toString()).connectionToken, 'a connection token with a 1 KB cookie');

  const { connectionToken } = await negotiate(h);
  const ws = new WebSocket(`ws://127.0.0.1:${h.port}/client/?hub=telemetry&id=${connectionToken}&access_token=${h.token}`,
    { headers: { Cookie: cookie } });
  ws.on('error', () => {});
  t.after(() => ws.terminate());
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });

  // MHD answers 431 and closes at once, unread bytes left: the client may see the reset
  // before the answer, so the hub's log of the 431 is what must be there.
  const big = ask({ Cookie: `session=${'c'.repeat(3 * 1024)}` });
  const head = await big.head;
  await waitFor(() => big.closed, 3000, 'the connection closed after a 3 KB cookie');
  if (head.status) assert.equal(head.status, 431, 'a 3 KB cookie');
  await h.hub.waitForLog(/HTTP response code is 431/, 3000);
  assert.ok((await negotiate(h)).connectionToken, 'negotiate still works after a refused request');
});

test('--transports: a transport left out is not offered and its requests get 404', async (t) => {
  const h = await startHub(t, ['--transports', 'ws']);
  const n = await negotiate(h);
  assert.deepEqual(n.availableTransports, [{ transport: 'WebSockets', transferFormats: ['Text', 'Binary'] }]);
  const sse = rawHttp(h.port, 'GET', `/client/?hub=telemetry&id=${n.connectionToken}&access_token=${h.token}`, { Accept: 'text/event-stream' });
  t.after(() => sse.sock.destroy());
  assert.equal((await sse.head).status, 404, 'an event stream with SSE left out');
  const lp = await h.client('GET', `&id=${n.connectionToken}`);
  assert.equal(lp.status, 404, 'a long poll with long polling left out');
  assert.match((await lp.json()).error, /LongPolling transport is not enabled/);
  // The token is still good for the transport that is on.
  const ws = new WebSocket(`ws://127.0.0.1:${h.port}/client/?hub=telemetry&id=${n.connectionToken}&access_token=${h.token}`);
  ws.on('error', () => {});
  t.after(() => ws.terminate());
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
});

// ================================================================ 5. bad hub-protocol input over SSE and LP

test('bad handshakes and records POSTed over SSE and long polling end the connection with the specific error', async (t) => {
  const h = await startHub(t);
  const big = `{"type":1,"target":"Report","arguments":["${'x'.repeat(40000)}"]}${RS}`;
  const cases = [
    // [name, transport, handshake, record after the handshake, expected: handshake error or Close error]
    ['unknown protocol', 'sse', `{"protocol":"xml","version":1}${RS}`, null, { hs: "The protocol 'xml' is not supported." }],
    ['unknown protocol', 'lp', `{"protocol":"xml","version":1}${RS}`, null, { hs: "The protocol 'xml' is not supported." }],
    ['messagepack over SSE', 'sse', `{"protocol":"messagepack","version":1}${RS}`, null,
      { hs: "Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format." }],
    ['a record over 32 KiB', 'sse', HANDSHAKE, big, { close: /^Message exceeds the maximum size of 32768 bytes\.$/ }],
    ['a record over 32 KiB', 'lp', HANDSHAKE, big, { close: /^Message exceeds the maximum size of 32768 bytes\.$/ }],
    ['not JSON', 'sse', HANDSHAKE, `not json${RS}`, { close: /^Invalid message: not valid JSON/ }],
    ['not JSON', 'lp', HANDSHAKE, `not json${RS}`, { close: /^Invalid message: not valid JSON/ }],
  ];
  await Promise.all(cases.map(async ([name, tr, hs, rec, want]) => {
    const label = `${name} over ${tr.toUpperCase()}`;
    let records;
    if (tr === 'sse') {
      const c = await sseOpen(t, h, { handshake: null });
      assert.equal((await c.post(hs)).status, 200, `${label}: handshake POST`);
      if (rec) {
        await waitFor(() => c.records().length >= 1, 5000, `${label}: the handshake response`);
        assert.equal((await c.post(rec)).status, 200, `${label}: record POST`);
      }
      // The stream ends (chunked terminator) after the error.
      await waitFor(() => c.r.done, 6000, `${label}: the event stream to end`);
      records = c.records();
      await waitFor(() => closedLine(h, c.id), 3000, `${label}: the hub's "closed" line`);
      assert.equal((await c.post(`{"type":6}${RS}`)).status, 404, `${label}: a POST after the end`);
    } else {
      const c = await lpOpen(h, { handshake: null });
      const parked = c.poll();
      await sleep(100);
      assert.equal((await c.post(hs)).status, 200, `${label}: handshake POST`);
      let text = (await parked).text;
      if (rec) {
        assert.equal(text, `{}${RS}`, `${label}: the handshake response`);
        const next = c.poll();
        await sleep(100);
        assert.equal((await c.post(rec)).status, 200, `${label}: record POST`);
        text = (await next).text;
      }
      records = parseRecords(text);
      const after = await c.poll();
      assert.ok(after.status === 204 || after.status === 404, `${label}: a poll after the error gets 204 or 404, saw ${after.status} ${after.text}`);
      await waitFor(() => closedLine(h, c.id), 3000, `${label}: the hub's "closed" line`);
    }
    if (want.hs) {
      assert.deepEqual(records, [{ error: want.hs }], `${label}: the handshake response`);
    } else {
      const close = records.find((r) => r.type === 7);
      assert.ok(close, `${label}: expected a Close record, saw ${JSON.stringify(records)}`);
      assert.match(close.error, want.close, `${label}: the Close error`);
      assert.notEqual(close.allowReconnect, true, `${label}: no reconnect after bad input`);
    }
  }));
});
