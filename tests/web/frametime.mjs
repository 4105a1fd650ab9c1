#!/usr/bin/env node
// frametime.mjs -- frame time of the dashboards with a large fleet: the real pipeline
// (mosquitto, ingest with history, the hub, telewire-sim with N vehicles at 1 Hz and the
// usual sensors) and the page in headless Chromium, measured for a bounded time.
//
//   node tests/web/frametime.mjs --build-dir DIR [--smoke] [--vehicles N] [--seconds S]
//        [--profile FILE.cpuprofile] [--trace FILE.json] [--web DIR] [--out FRAGMENT.md]
//
// --web DIR serves another copy of the page (an older one, to compare).
//
// Prints a table and writes a markdown fragment "## Dashboard frame time". Exits 1 when
// the page throws, draws no frames, or its markers do not move; 2 on a usage error.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const usage = 'usage: node tests/web/frametime.mjs --build-dir DIR [--smoke] [--vehicles N] [--seconds S] [--profile FILE] [--trace FILE] [--web DIR] [--out FRAGMENT.md]';
let opts;
try {
  opts = parseArgs({
    options: {
      'build-dir': { type: 'string' }, smoke: { type: 'boolean' }, vehicles: { type: 'string' },
      seconds: { type: 'string' }, out: { type: 'string' }, profile: { type: 'string' }, trace: { type: 'string' }, web: { type: 'string' }, help: { type: 'boolean' },
    },
  }).values;
} catch (e) {
  console.error(`frametime: ${e.message}\n${usage}`);
  process.exit(2);
}
if (opts.help) { console.log(usage); process.exit(0); }
if (!opts['build-dir']) { console.error(`frametime: --build-dir is required\n${usage}`); process.exit(2); }
// The harness reads the build directory when it is imported.
process.env.TW_BUILD_DIR = path.resolve(opts['build-dir']);

const { ROOT, waitFor } = await import('../harness/index.mjs');
const { scope, startPipeline, startSim, launchBrowser, openPage, SHOTS } = await import('./pipeline.mjs');

const SMOKE = !!opts.smoke;
const VEHICLES = Number(opts.vehicles ?? (SMOKE ? 50 : 1000));
const SECONDS = Number(opts.seconds ?? (SMOKE ? 4 : 30));
const SETTLE_MS = SMOKE ? 1000 : 5000;   // after the last marker appeared, before measuring
const SENSORS = 12;                       // the simulator's default
// The demo's routes, alerts and geofence zone: what a dashboard usually shows.
const INGEST_CONFIG = fs.readFileSync(path.join(ROOT, 'scripts', 'demo-ingest.ini'), 'utf8');
const MAX_CHART_POINTS = 300;             // per zone chart (web/js/temperatures.js)
// "Smooth": what the verdict holds the page to (docs/dashboards.md says the same).
const SMOOTH = { p95: 33.4, worst: 100 };
if (!(VEHICLES > 0) || !(SECONDS > 0)) { console.error(`frametime: --vehicles and --seconds must be positive\n${usage}`); process.exit(2); }


// In the page before its scripts: frame deltas from requestAnimationFrame and
// long tasks, recorded only while window.__ft.on.
const INSTRUMENT = () => {
  const f = window.__ft = { on: false, deltas: [], longtasks: [], last: 0 };
  const tick = (now) => {
    if (f.on && f.last) f.deltas.push(now - f.last);
    f.last = now;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  try {
    new PerformanceObserver((list) => {
      if (f.on) for (const e of list.getEntries()) f.longtasks.push(e.duration);
    }).observe({ type: 'longtask' });
  } catch { f.longtasks = null; /* not supported */ }
};

const q = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN);
const ms = (v) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : '—');
const mib = (v) => `${(v / 1048576).toFixed(1)} MiB`;

const t = scope();
let failed = [];
try {
  const pipeline = await startPipeline(t, { ingestConfig: INGEST_CONFIG, hubArgs: opts.web ? ['--web', path.resolve(opts.web)] : [] });
  const sim = startSim(t, pipeline, ['--vehicles', String(VEHICLES), '--sensors', String(SENSORS), '--rate', '1',
    '--seed', '7', '--failure-rate', '0', '--dropout-rate', '0']);
  const browser = await launchBrowser(t);
  const version = browser.version();
  const viewport = { width: 1400, height: 1000 };
  const { page, pageErrors } = await openPage(browser, pipeline, { viewport, init: INSTRUMENT });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));

  // Every vehicle on the map (a few may lag on a loaded machine: 98 % will do).
  const markers = () => page.evaluate(() => window.telewire.fleet.vehicles.size);
  const want = Math.ceil(VEHICLES * 0.98);
  const t0 = Date.now();
  await waitFor(async () => (await markers()) >= want, SMOKE ? 30000 : 60000, `${want} markers on the map`);
  const rampS = (Date.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, SETTLE_MS));

  const snap = () => page.evaluate(() => {
    const tw = window.telewire;
    const pos = {};
    for (const [id, v] of tw.fleet.vehicles) {
      const p = tw.fleet.where?.(id) ?? v.marker.getLatLng();
      pos[id] = `${p.lat},${p.lon ?? p.lng}`;
    }
    const zones = [...tw.temps.zones.values()].map((z) => z.data[0].length * (z.data.length - 1));
    const perSeries = [...tw.temps.zones.values()].map((z) => z.data[0].length);
    return {
      pos, received: tw.receivedTotal, dom: document.getElementsByTagName('*').length,
      markers: tw.fleet.vehicles.size, drawn: tw.fleet.layer?.drawn ?? NaN, drawMs: tw.fleet.layer?.drawMs ?? NaN,
      chartPoints: zones.reduce((a, b) => a + b, 0), maxPerSeries: Math.max(0, ...perSeries), zones: zones.length,
      heap: performance.memory?.usedJSHeapSize ?? null,
    };
  });

  const load0 = os.loadavg()[0];
  const m0 = await metrics();
  const s0 = await snap();
  if (opts.profile) { await cdp.send('Profiler.enable'); await cdp.send('Profiler.start'); }
  if (opts.trace) await browser.startTracing(page, { path: opts.trace, categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline'] });
  await page.evaluate(() => { window.__ft.on = true; });
  const start = Date.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  await page.evaluate(() => { window.__ft.on = false; });
  const elapsed = (Date.now() - start) / 1000;
  let profileTop = [];
  if (opts.profile) {
    const { profile } = await cdp.send('Profiler.stop');
    fs.writeFileSync(opts.profile, JSON.stringify(profile));
    profileTop = topSelf(profile, 8);
  }
  if (opts.trace) await browser.stopTracing();
  const m1 = await metrics();
  const s1 = await snap();
  const ft = await page.evaluate(() => window.__ft);
  fs.mkdirSync(SHOTS, { recursive: true });
  const shot = path.join(SHOTS, `frametime-${VEHICLES}.png`);
  await page.screenshot({ path: shot });

  const d = [...ft.deltas].sort((a, b) => a - b);
  const moved = Object.keys(s1.pos).filter((id) => s0.pos[id] && s0.pos[id] !== s1.pos[id]).length;
  const lt = ft.longtasks ?? [];
  const r = {
    frames: d.length, fps: d.length / elapsed, p50: q(d, 0.5), p95: q(d, 0.95), p99: q(d, 0.99), max: d.at(-1) ?? NaN,
    over50: d.filter((x) => x > 50).length, over100: d.filter((x) => x > 100).length,
    longtasks: lt.length, longtaskMs: lt.reduce((a, b) => a + b, 0), longtaskMax: Math.max(0, ...lt),
    msgRate: (s1.received - s0.received) / elapsed,
    heap0: m0.JSHeapUsedSize, heap1: m1.JSHeapUsedSize, nodes0: s0.dom, nodes1: s1.dom,
    markers: s1.markers, redraws: (s1.drawn - s0.drawn) / elapsed, drawEach: (s1.drawMs - s0.drawMs) / Math.max(1, s1.drawn - s0.drawn), moved, chartPoints: s1.chartPoints, maxPerSeries: s1.maxPerSeries,
    zones: s1.zones, scriptS: m1.ScriptDuration - m0.ScriptDuration, layoutS: m1.LayoutDuration - m0.LayoutDuration,
    styleS: m1.RecalcStyleDuration - m0.RecalcStyleDuration, busyS: m1.TaskDuration - m0.TaskDuration,
    threadS: m1.ThreadTime - m0.ThreadTime, processS: m1.ProcessTime - m0.ProcessTime, load0, load1: os.loadavg()[0],
  };
  const smooth = r.p95 <= SMOOTH.p95 && r.max <= SMOOTH.worst;
  const bounded = r.maxPerSeries <= MAX_CHART_POINTS && r.markers <= VEHICLES;
  if (pageErrors.length) failed.push(`errors in the page: ${pageErrors.join('; ')}`);
  if (r.frames < SECONDS) failed.push(`only ${r.frames} frames in ${SECONDS} s`);
  if (moved < Math.min(r.markers, VEHICLES) * 0.5) failed.push(`only ${moved} of ${r.markers} markers moved while measuring`);
  if (!opts.web && r.redraws < 0.5) failed.push(`the map was redrawn ${r.redraws.toFixed(2)} times a second`);
  if (!bounded) failed.push(`unbounded: ${r.maxPerSeries} points in one chart series (bound ${MAX_CHART_POINTS}), ${r.markers} markers`);

  const pct = (sec) => (Number.isFinite(sec) ? `${(sec * 100 / elapsed).toFixed(0)} %` : '—');
  const rows = [
    ['vehicles (1 Hz) + sensors', `${VEHICLES} + ${SENSORS}`],
    ['measured', `${elapsed.toFixed(1)} s, after ${rampS.toFixed(1)} s for the markers to appear and ${SETTLE_MS / 1000} s settling`],
    ['messages shown', `${r.msgRate.toFixed(0)} /s`],
    ['frames', `${r.frames} (${r.fps.toFixed(1)} fps)`],
    ['frame time p50 / p95 / p99 / max', `${ms(r.p50)} / ${ms(r.p95)} / ${ms(r.p99)} / ${ms(r.max)}`],
    ['frames over 50 ms / over 100 ms', `${r.over50} / ${r.over100}`],
    ['long tasks (count, total, longest)', ft.longtasks ? `${r.longtasks}, ${ms(r.longtaskMs)}, ${ms(r.longtaskMax)}` : 'not reported by this Chromium'],
    ['page main thread: busy (wall) / on CPU', `${pct(r.busyS)} / ${pct(r.threadS)}`],
    ['  of which script / style / layout', `${pct(r.scriptS)} / ${pct(r.styleS)} / ${pct(r.layoutS)}`],
    ['page renderer process CPU', `${pct(r.processS)} of one core`],
    ['machine load average (start → end)', `${r.load0.toFixed(1)} → ${r.load1.toFixed(1)} on ${os.cpus().length} cores`],
    ['JS heap start → end', `${mib(r.heap0)} → ${mib(r.heap1)}`],
    ['DOM elements start → end', `${r.nodes0} → ${r.nodes1}`],
    ['vehicles on the map / moved / map redraws', Number.isFinite(r.redraws) ? `${r.markers} / ${r.moved} / ${r.redraws.toFixed(1)} per s, ${ms(r.drawEach)} each` : `${r.markers} / ${r.moved}`],
    ['chart points held (zones; most in one series)', `${r.chartPoints} (${r.zones}; ${r.maxPerSeries}, bound ${MAX_CHART_POINTS})`],
  ];
  const width = Math.max(...rows.map((x) => x[0].length));
  console.log(`\ndashboard frame time, ${VEHICLES} vehicles${SMOKE ? ' (smoke)' : ''}`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  if (profileTop.length) {
    console.log(`\n  CPU profile (${opts.profile}), most self time:`);
    for (const p of profileTop) console.log(`    ${p.ms.toFixed(0).padStart(6)} ms  ${p.fn}`);
  }
  const verdict = `${smooth ? 'smooth' : 'not smooth'}: p95 ${ms(r.p95)} (limit ${SMOOTH.p95} ms), longest frame ${ms(r.max)} (limit ${SMOOTH.worst} ms)`;
  console.log(`\n  verdict: ${verdict}; chart points and markers ${bounded ? 'bounded' : 'NOT bounded'}`);
  console.log(`  screenshot: ${shot}`);

  if (opts.out) {
    const cpu = os.cpus();
    const cmd = `node tests/web/frametime.mjs --build-dir ${opts['build-dir']}${SMOKE ? ' --smoke' : ''}${opts.vehicles ? ` --vehicles ${VEHICLES}` : ''}${opts.seconds ? ` --seconds ${SECONDS}` : ''} --out ${opts.out}`;
    const md = [
      '## Dashboard frame time', '',
      `Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, load average ${os.loadavg()[0].toFixed(1)} at the end`
        + ` (shared with other work); headless Chromium ${version} with software rendering (no GPU), viewport ${viewport.width}×${viewport.height}.`
        + ' The whole pipeline runs on the same machine: mosquitto, telewire-ingest with history, telewire-hub (WebSockets) and telewire-sim.', '',
      '```', cmd, '```', '',
      `${VEHICLES} vehicles and ${SENSORS} sensors at 1 Hz each, ingest with scripts/demo-ingest.ini; frame durations are the intervals between`
        + ` requestAnimationFrame callbacks over ${elapsed.toFixed(0)} s once every marker was on the map; long tasks from`
        + ' PerformanceObserver, heap and main-thread times from the DevTools protocol.', '',
      '| figure | value |', '|---|---|',
      ...rows.map(([k, v]) => `| ${k} | ${v} |`), '',
      `The page's main thread was on a CPU ${pct(r.threadS)} of the time and busy ${pct(r.busyS)} (wall clock):`
        + ' the difference is time it waited for a core (the machine\'s load) or for the compositor.', '',
      `Smooth means p95 frame time at most ${SMOOTH.p95} ms (two frames at 60 Hz) and no frame over ${SMOOTH.worst} ms at steady state.`
        + ` Verdict: **${verdict}**; chart points and markers ${bounded ? 'bounded' : 'not bounded'}.`, '',
    ].join('\n');
    fs.writeFileSync(opts.out, md);
    console.log(`  fragment: ${opts.out}`);
  }
  if (sim.proc.exitCode !== null || sim.proc.signalCode !== null) failed.push(`telewire-sim exited early:\n${sim.output().slice(-2000)}`);
} catch (e) {
  failed.push(e.message);
} finally {
  await t.close();
}
if (failed.length) {
  console.error(`\nframetime: FAILED\n  ${failed.join('\n  ')}`);
  process.exit(1);
}
process.exit(0);

/** The functions with the most self time in a CPU profile. */
function topSelf(profile, n) {
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const self = new Map();
  const dt = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const cf = node.callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${cf.url ? `${path.basename(cf.url)}:${cf.lineNumber + 1}` : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0) / 1000);
  }
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([fn, v]) => ({ fn, ms: v }));
}
