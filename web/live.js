// live.js -- shows the latest value of every device, pushed by telewire-hub over SignalR
'use strict';

const MAX_ROWS = 2000;           // a page holds a bounded number of devices
const stateEl = document.getElementById('state');
const errorEl = document.getElementById('error');
const rows = { fleet: new Map(), temperature: new Map() };
let received = 0;

function setState(name, text) {
  stateEl.className = `state ${name}`;
  stateEl.textContent = text;
}

function showError(text) {
  errorEl.hidden = !text;
  errorEl.textContent = text || '';
}

const fmt = (v, digits) => (typeof v === 'number' ? v.toFixed(digits) : v ?? '—');

const columns = {
  fleet: (v) => [fmt(v.lat, 5), fmt(v.lon, 5), fmt(v.speed, 1), fmt(v.heading, 0), fmt(v.fuel, 1), fmt(v.engine_temp, 1)],
  temperature: (v) => [v.zone ?? '—', fmt(v.temp, 2), fmt(v.setpoint, 1), v.door_open ? 'open' : 'closed'],
};

function rowFor(table, device) {
  let tr = rows[table].get(device);
  if (tr) return tr;
  if (rows[table].size >= MAX_ROWS) return null;
  tr = document.createElement('tr');
  tr.dataset.device = device;
  document.querySelector(`#${table} tbody`).appendChild(tr);
  rows[table].set(device, tr);
  document.getElementById(`${table}-count`).textContent = `(${rows[table].size})`;
  return tr;
}

function render(table, rec) {
  const tr = rowFor(table, rec.device);
  if (!tr) return;
  const cells = [rec.device, ...columns[table](rec.values), new Date(rec.ts).toLocaleTimeString()];
  tr.replaceChildren(...cells.map((c) => {
    const td = document.createElement('td');
    td.textContent = c;
    return td;
  }));
  if (table === 'temperature' && rec.values.temp > rec.values.setpoint + 3) tr.cells[2].className = 'warm';
}

function onTelemetry(rec) {
  if (!rec || typeof rec.device !== 'string' || typeof rec.values !== 'object' || rec.values === null) {
    showError('The hub sent a telemetry message this page cannot read; it was skipped.');
    return;
  }
  received++;
  render(rec.device.startsWith('veh-') ? 'fleet' : 'temperature', rec);
}

const connection = new signalR.HubConnectionBuilder()
  .withUrl(`/api?hub=telemetry`)
  .withAutomaticReconnect({ nextRetryDelayInMilliseconds: (ctx) => Math.min(1000 * 2 ** ctx.previousRetryCount, 10000) })
  .configureLogging(signalR.LogLevel.Warning)
  .build();

connection.on('telemetry', onTelemetry);

async function joinGroups() {
  for (const g of ['fleet', 'temperature']) await connection.invoke('JoinGroup', g);
  setState('connected', `connected (${connection.connection.transport?.constructor?.name ?? 'WebSockets'})`);
  showError('');
}

connection.onreconnecting(() => setState('reconnecting', 'reconnecting…'));
connection.onreconnected(() => joinGroups().catch((e) => showError(`Cannot join groups: ${e.message}`)));
connection.onclose(() => { setState('disconnected', 'disconnected'); start(); });

async function start() {
  for (let delay = 1000; ; delay = Math.min(delay * 2, 10000)) {
    try {
      setState('connecting', 'connecting…');
      await connection.start();
      await joinGroups();
      return;
    } catch (e) {
      setState('disconnected', 'hub unreachable');
      showError(`Cannot reach the hub (${e.message}); retrying in ${delay / 1000} s.`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

setInterval(() => {
  document.getElementById('rate').textContent = `${received} msg/s`;
  received = 0;
}, 1000);

window.telewire = { connection, rows };   // for the browser tests
start();
