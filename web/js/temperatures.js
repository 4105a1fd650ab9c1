// temperatures.js -- a live chart per zone with its threshold band, current values, and the alert list
'use strict';

// Alerts raised and not yet cleared, from the hub's "alert" messages (group "alerts").
tw.alerts = (() => {
  const MAX_ALERTS = 1000;
  const raised = new Map();     // device -> Map(alertKey -> event)
  const keyOf = (e) => `${e.name ?? e.key ?? e.type}/${e.bound ?? ''}`;
  return {
    apply(e) {
      if (e.type !== 'threshold') return false;
      const m = raised.get(e.device) ?? new Map();
      if (e.state === 'raised') {
        if (raised.size >= MAX_ALERTS && !raised.has(e.device)) return false;
        m.set(keyOf(e), e);
      } else {
        m.delete(keyOf(e));
      }
      if (m.size) raised.set(e.device, m); else raised.delete(e.device);
      return true;
    },
    active: (device) => raised.has(device),
    list: (device) => [...(raised.get(device)?.values() ?? [])],
    all: () => [...raised.values()].flatMap((m) => [...m.values()]),
  };
})();

tw.temps = (() => {
  const MAX_POINTS = 300;       // points per zone chart
  const MAX_ZONES = 200;
  const SETPOINT_MIN = -40, SETPOINT_MAX = 40;
  const COLORS = ['#1565c0', '#2e7d32', '#6a1b9a', '#ef6c00', '#00838f', '#5d4037'];
  const zones = new Map();      // zone -> {el, chart, sensors: Map(id -> {rec, idx}), data}
  const sensorZone = new Map(); // device -> zone
  // The alert band: temperature within setpoint +- band; widened or
  // narrowed by what the threshold events say (their "threshold").
  const band = { deviation: { low: -5, high: 5 }, temp: null };

  function makeZone(name) {
    const el = document.createElement('div');
    el.className = 'zone';
    el.dataset.zone = name;
    el.innerHTML = `<h3>${tw.esc(name)}</h3><div class="chart"></div><table><tbody></tbody></table>`;
    document.getElementById('zones').appendChild(el);
    const z = { name, el, sensors: new Map(), data: [[]], chart: null };
    el.addEventListener('click', (ev) => act(ev));
    zones.set(name, z);
    document.getElementById('zone-count').textContent = `(${zones.size} zones)`;
    return z;
  }

  function bandOf(z) {
    const sps = [...z.sensors.values()].map((s) => s.rec.values.setpoint).filter(Number.isFinite);
    if (!sps.length) return null;
    const low = Math.min(...sps) + band.deviation.low, high = Math.max(...sps) + band.deviation.high;
    if (!band.temp) return { low, high };
    return { low: Number.isFinite(band.temp.low) ? band.temp.low : low, high: Number.isFinite(band.temp.high) ? band.temp.high : high };
  }

  function build(z) {
    const ids = [...z.sensors.keys()];
    z.chart?.destroy();
    z.chart = new uPlot({
      width: Math.max(z.el.clientWidth - 8, 240),
      height: 150,
      legend: { show: true },
      scales: { x: { time: true }, y: { range: (u, lo, hi) => {
        const b = bandOf(z);
        const l = Math.min(lo ?? 0, b ? b.low - 1 : lo), h = Math.max(hi ?? 1, b ? b.high + 1 : hi);
        return [Math.floor(l), Math.ceil(h)];
      } } },
      series: [{}, ...ids.map((id, i) => ({ label: id, stroke: COLORS[i % COLORS.length], spanGaps: true, width: 1.5 }))],
      axes: [{}, { label: '°C', size: 40 }],
      hooks: { drawClear: [(u) => {
        const b = bandOf(z);
        if (!b) return;
        const top = u.valToPos(b.high, 'y', true), bottom = u.valToPos(b.low, 'y', true);
        u.ctx.save();
        u.ctx.fillStyle = 'rgba(211, 47, 47, 0.08)';
        u.ctx.fillRect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
        u.ctx.fillStyle = 'rgba(46, 125, 50, 0.12)';
        u.ctx.fillRect(u.bbox.left, top, u.bbox.width, bottom - top);
        u.ctx.restore();
      }] },
    }, z.data, z.el.querySelector('.chart'));
  }

  function renderTable(z) {
    z.el.querySelector('tbody').innerHTML = [...z.sensors.entries()].map(([id, s]) => {
      const v = s.rec.values;
      const warm = tw.alerts.active(id) ? ' class="warm"' : '';
      return `<tr data-device="${tw.esc(id)}"><td>${tw.esc(id)}</td><td${warm}>${tw.fmt(v.temp, 2)} °C</td>`
        + `<td>set ${tw.fmt(v.setpoint, 1)}</td><td>${v.door_open ? 'door open' : ''}${v.fault ? ' compressor fault' : ''}</td>`
        + `<td>${v.fault ? `<button data-command="reset_fault" data-device="${tw.esc(id)}">reset fault</button>` : ''}`
        + `<button data-command="set_setpoint" data-device="${tw.esc(id)}" title="set setpoint">set…</button></td></tr>`;
    }).join('');
    z.el.classList.toggle('alerting', [...z.sensors.keys()].some((id) => tw.alerts.active(id)));
  }

  // Buttons of the zone tables and of the alert list.
  async function act(ev) {
    const { command, device } = ev.target.dataset ?? {};
    if (!command || !device) return;
    let args = {};
    if (command === 'set_setpoint') {
      const cur = tw.temps.sensor(device)?.rec.values.setpoint;
      const answer = prompt(`New setpoint of ${device} in °C (now ${cur}):`, cur);
      if (answer === null) return;
      args = { setpoint: Number(answer) };
      if (answer.trim() === '' || !Number.isFinite(args.setpoint)) { tw.notice(`"${answer}" is not a number of degrees; nothing sent.`); return; }
      // The range the devices accept (telewire-sim refuses others, and a
      // refusal on the device never comes back to the page).
      if (args.setpoint < SETPOINT_MIN || args.setpoint > SETPOINT_MAX) {
        tw.notice(`Setpoint ${args.setpoint} °C is out of range (${SETPOINT_MIN} to ${SETPOINT_MAX} °C); nothing sent.`);
        return;
      }
    }
    const status = document.getElementById('alert-count');
    try {
      tw.notice('');
      status.dataset.last = await tw.sendCommand(device, command, args);
    } catch (e) {
      tw.notice(`${command} for ${device} failed: ${e.message.replace(/^.*HubException: /, '')}`);
    }
  }

  function onTelemetry(rec) {
    const zoneName = typeof rec.values.zone === 'string' ? rec.values.zone : 'unzoned';
    if (!Number.isFinite(rec.values.temp)) return;
    let z = zones.get(zoneName);
    if (!z) {
      if (zones.size >= MAX_ZONES) return;
      z = makeZone(zoneName);
    }
    sensorZone.set(rec.device, zoneName);
    let s = z.sensors.get(rec.device);
    if (!s) {
      s = { rec };
      z.sensors.set(rec.device, s);
      z.data.push(new Array(z.data[0].length).fill(null));
      s.idx = z.data.length - 1;
      build(z);
    }
    s.rec = rec;
    z.data[0].push(rec.ts / 1000);
    for (let i = 1; i < z.data.length; i++) z.data[i].push(i === s.idx ? rec.values.temp : null);
    if (z.data[0].length > MAX_POINTS) for (const col of z.data) col.splice(0, col.length - MAX_POINTS);
    z.dirty = true;
    tw.redraw(redrawZones);
  }

  // Charts and tables redraw at most a few times a second, not per message,
  // in the same frame as the map (tw.redraw).
  function redrawZones() {
    for (const z of zones.values()) {
      if (!z.dirty) continue;
      z.dirty = false;
      z.chart.setData(z.data);
      renderTable(z);
    }
  }

  function renderAlerts() {
    const all = tw.alerts.all();
    document.getElementById('alert-count').textContent = all.length ? `(${all.length} raised)` : '(none)';
    document.getElementById('alerts').innerHTML = all.map((e) => {
      const known = sensorZone.has(e.device) || tw.fleet.vehicles.has(e.device);
      const where = sensorZone.get(e.device) ?? (known ? 'vehicle' : 'unknown device: no telemetry seen from it yet');
      const btn = sensorZone.has(e.device) ? `<button data-command="reset_fault" data-device="${tw.esc(e.device)}">reset fault</button>` : '';
      return `<li data-device="${tw.esc(e.device)}" data-alert="${tw.esc(e.name ?? e.key)}">${tw.esc(e.device)} (${tw.esc(where)}): `
        + `${tw.esc(e.name ?? e.key)} ${tw.fmt(e.value, 2)} ${e.bound === 'low' ? 'below' : 'above'} ${tw.fmt(e.threshold, 2)} `
        + `since ${new Date(e.ts).toLocaleTimeString()} ${btn}</li>`;
    }).join('');
  }
  document.getElementById('alerts').addEventListener('click', act);

  function onAlert(e) {
    if (e.type === 'threshold' && Number.isFinite(e.threshold)) {
      const b = e.key === 'temp' ? (band.temp ??= { low: -Infinity, high: Infinity }) : e.key === 'deviation' ? band.deviation : null;
      if (b) b[e.bound === 'low' ? 'low' : 'high'] = e.threshold;
    }
    renderAlerts();
    const z = zones.get(sensorZone.get(e.device));
    if (z) { renderTable(z); z.chart?.redraw(); }
  }

  return { onTelemetry, onAlert, zones, sensor: (id) => zones.get(sensorZone.get(id))?.sensors.get(id) };
})();
