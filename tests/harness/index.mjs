// index.mjs -- test harness: a private mosquitto per test, real binaries, always stopped
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = process.env.TW_SOURCE_DIR ||
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BUILD = process.env.TW_BUILD_DIR || path.join(ROOT, 'build');
export const BIN = path.join(BUILD, 'bin');

const live = new Set();   // children still running, stopped on exit whatever happens

function killAll() {
  for (const child of live) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone already */ }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { killAll(); process.exit(130); });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Polls fn until it returns a truthy value; throws naming `what` after ms. */
export async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}` +
        (last instanceof Error ? ` (last error: ${last.message})` : ''));
    }
    await sleep(25);
  }
}

/** A temporary directory removed after the test. */
export function tmpDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'telewire-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts a process and stops it (SIGTERM, then SIGKILL after 5 s) when the
 * test ends. `name` is a telewire binary in BIN, or an absolute path, or a
 * command on PATH. Returns {pid, proc, output(), waitForLog(re, ms), stop(sig), exited}.
 */
export function startProc(t, name, args = [], opts = {}) {
  const file = name.includes('/') ? name
    : fs.existsSync(path.join(BIN, name)) ? path.join(BIN, name) : name;
  const proc = spawn(file, args, {
    env: { ...process.env, ...(opts.env || {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: opts.cwd,
  });
  live.add(proc);
  let out = '';
  const keep = (d) => {
    out += d.toString();
    if (out.length > 4 * 1024 * 1024) out = out.slice(-2 * 1024 * 1024);  // bounded
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    live.delete(proc);
    resolve({ code, signal });
  }));
  const handle = {
    pid: proc.pid,
    proc,
    exited,
    output: () => out,
    async waitForLog(re, ms = 10000) {
      await waitFor(() => re.test(out), ms, `${path.basename(file)} to log ${re}\n--- its output:\n${out}`);
    },
    async stop(signal = 'SIGTERM', ms = 5000) {
      if (!live.has(proc)) return exited;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
  if (t) {
    t.after(async () => {
      await handle.stop();
      if (process.env.TW_TEST_VERBOSE) process.stderr.write(`--- ${name} output:\n${out}\n`);
    });
  }
  return handle;
}

/** Finds mosquitto: on PATH or in /usr/sbin (Debian puts it there). */
export function mosquittoPath() {
  for (const p of ['/usr/sbin/mosquitto', '/usr/bin/mosquitto']) {
    if (fs.existsSync(p)) return p;
  }
  const r = spawnSync('sh', ['-c', 'command -v mosquitto']);
  if (r.status === 0) return r.stdout.toString().trim();
  throw new Error('mosquitto not found: run scripts/setup');
}

/**
 * Starts a private mosquitto on a free loopback port for one test, with its
 * own config in a temp dir; stopped when the test ends. Options:
 * maxQueued (max_queued_messages, default 100000), port (to restart on the same port),
 * persistenceDir (persistence on, its database in that directory: a broker
 * started again with the same directory has the sessions and queued messages
 * the previous one saved when it stopped; the directory is made writable for
 * all, as mosquitto started by root runs as user mosquitto).
 */
export async function startBroker(t, opts = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'telewire-mosq-'));
  if (opts.persistenceDir) fs.chmodSync(opts.persistenceDir, 0o777);
  const port = opts.port || await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    ...(opts.persistenceDir
      ? ['persistence true', `persistence_location ${opts.persistenceDir.replace(/\/?$/, '/')}`]
      : ['persistence false']),
    `max_queued_messages ${opts.maxQueued ?? 100000}`,
    'max_inflight_messages 0',
    'set_tcp_nodelay true',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n'));
  const proc = startProc(null, mosquittoPath(), ['-c', conf]);
  const broker = {
    port,
    uri: `tcp://127.0.0.1:${port}`,
    url: `mqtt://127.0.0.1:${port}`,
    proc,
    async stop() {
      await proc.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  if (t) t.after(() => broker.stop());
  await waitFor(() => portOpen(port), 10000, `mosquitto on port ${port}\n${proc.output()}`);
  return broker;
}

/**
 * Every value in a history file, read with the sqlite3 shell and decoded
 * here, apart from the store's own code: [{ device, ts, key, type, value }]
 * (type 1 number, 2 boolean, 3 string). A point's vals hold, per key in
 * ascending id: varint key id, a type byte, then 8 bytes of a little-endian
 * double, one byte 0/1, or a varint length and the string's bytes.
 */
export function historyValues(db) {
  const sql = 'SELECT d.name, p.ts, hex(p.vals) FROM points p JOIN devices d ON d.id = p.device_id;' +
    'SELECT id, name FROM keys;';
  const out = spawnSync('sqlite3', ['-separator', '\t', db, sql], { maxBuffer: 256 * 1024 * 1024 });
  if (out.status !== 0) throw new Error(`sqlite3 ${db}: ${out.stderr}`);
  const lines = out.stdout.toString().split('\n').filter(Boolean).map((l) => l.split('\t'));
  const keys = new Map(lines.filter((l) => l.length === 2).map(([id, name]) => [Number(id), name]));
  const values = [];
  for (const [device, ts, hex] of lines.filter((l) => l.length === 3)) {
    const b = Buffer.from(hex, 'hex');
    let at = 0;
    const varint = () => {
      let v = 0, mul = 1, c;
      do { c = b[at++]; v += (c & 0x7f) * mul; mul *= 128; } while (c & 0x80);
      return v;
    };
    while (at < b.length) {
      const key = keys.get(varint());
      const type = b[at++];
      let value;
      if (type === 1) { value = b.readDoubleLE(at); at += 8; }
      else if (type === 2) value = b[at++] === 1;
      else if (type === 3) { const n = varint(); value = b.toString('utf8', at, at + n); at += n; }
      else throw new Error(`${db}: point ${device}/${ts} has a value of type ${type}`);
      if (at > b.length) throw new Error(`${db}: point ${device}/${ts} is cut short`);
      values.push({ device, ts: Number(ts), key, type, value });
    }
  }
  return values;
}
