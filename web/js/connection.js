// connection.js -- the SignalR connection to telewire-hub, its visible state, and plain notices
'use strict';

const tw = {
  HUB: 'telemetry',
  GROUPS: ['fleet', 'temperature', 'alerts'],
  handlers: {},          // method -> function(arg), set by the dashboards
  transport: null,       // the transport the client picked last
  received: 0,           // messages this second (the header's rate)
  receivedTotal: 0,      // messages since the page was opened
};

tw.notice = (text) => {
  const el = document.getElementById('notice');
  el.hidden = !text;
  el.textContent = text || '';
};

tw.setState = (name, text) => {
  const el = document.getElementById('state');
  el.className = `state ${name}`;
  el.dataset.state = name;
  el.textContent = text;
};

// The client names the transport it picks in a debug line; a logger keeps
// it (class names do not survive minification) and passes warnings on.
const logger = {
  log(level, message) {
    const m = /Selecting transport '(\w+)'/.exec(message);
    if (m) tw.transport = m[1];
    if (level >= signalR.LogLevel.Warning) console.warn(`signalr: ${message}`);
  },
};

// ?transport=websockets|sse|longpolling keeps the client on one transport
// (to try a proxy that breaks the others, say); by default it picks the
// best the hub offers and falls back by itself.
const TRANSPORTS = {
  websockets: 'WebSockets', sse: 'ServerSentEvents', serversentevents: 'ServerSentEvents',
  longpolling: 'LongPolling',
};
const wanted = new URLSearchParams(location.search).get('transport');
const connOptions = {};
let transportNote = '';   // shown again whenever the page connects
if (wanted) {
  const name = TRANSPORTS[wanted.toLowerCase()];
  if (name) connOptions.transport = signalR.HttpTransportType[name];
  else transportNote = `Unknown transport "${wanted}" (websockets, sse or longpolling); the client picks one itself.`;
}

tw.connection = new signalR.HubConnectionBuilder()
  .withUrl(`/api?hub=${tw.HUB}`, connOptions)
  .withAutomaticReconnect({ nextRetryDelayInMilliseconds: (ctx) => Math.min(500 * 2 ** ctx.previousRetryCount, 5000) })
  .configureLogging(logger)
  .build();

// Every message from the hub goes through here: a malformed one is skipped
// with a plain statement, never breaks the page.
function dispatch(method, check) {
  tw.connection.on(method, (arg, ...rest) => {
    if (!check(arg) || rest.length) {
      tw.notice(`Skipped a malformed "${method}" message from the hub: ${JSON.stringify(arg)?.slice(0, 120)}`);
      return;
    }
    tw.received++;
    tw.receivedTotal++;
    try {
      tw.handlers[method]?.(arg);
    } catch (e) {
      tw.notice(`Could not show a "${method}" message: ${e.message}`);
    }
  });
}
const isObj = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
dispatch('telemetry', (r) => isObj(r) && typeof r.device === 'string' && isObj(r.values) && Number.isFinite(r.ts));
dispatch('alert', (a) => isObj(a) && typeof a.device === 'string' && typeof a.type === 'string');

async function joinGroups() {
  for (const g of tw.GROUPS) await tw.connection.invoke('JoinGroup', g);
  tw.setState('connected', `connected (${tw.transport ?? 'unknown transport'})`);
  tw.notice(transportNote);
}

tw.connection.onreconnecting(() => tw.setState('reconnecting', 'reconnecting…'));
tw.connection.onreconnected(() => joinGroups().catch((e) => tw.notice(`Reconnected, but cannot join the groups: ${e.message}`)));
tw.connection.onclose(() => { tw.setState('disconnected', 'disconnected'); tw.start(); });

// Starts (and after a final close restarts) the connection, backing off.
tw.start = async () => {
  for (let delay = 1000; ; delay = Math.min(delay * 2, 10000)) {
    try {
      tw.setState('connecting', 'connecting…');
      await tw.connection.start();
      await joinGroups();
      return;
    } catch (e) {
      tw.setState('disconnected', 'server down');
      tw.notice(`The hub is down or unreachable (${e.message}); retrying in ${delay / 1000} s.`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
};

// Sends a device command through the hub; resolves to a line for the user.
tw.sendCommand = async (device, command, args = {}) => {
  if (tw.connection.state !== signalR.HubConnectionState.Connected) {
    throw new Error(`not connected to the hub (${tw.connection.state}); try again when connected`);
  }
  const r = await tw.connection.invoke('SendCommand', device, { command, args });
  return `${command} sent to ${device} (${r?.status ?? 'sent'})`;
};

// The client token negotiate hands out, for GET /api/history; renewed a
// minute before it expires.
let token = null;
tw.accessToken = async () => {
  if (token && token.exp - 60000 > Date.now()) return token.value;
  const res = await fetch(`/api/negotiate?hub=${tw.HUB}`, { method: 'POST' });
  if (!res.ok) throw new Error(`negotiate answered ${res.status}`);
  const { accessToken } = await res.json();
  let exp = Date.now() + 300000;
  try { exp = JSON.parse(atob(accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp * 1000; } catch { /* keep 5 min */ }
  token = { value: accessToken, exp };
  return accessToken;
};

// Everything the dashboards redraw (the map, the charts, their tables) is
// drawn together, in one animation frame four times a second, whatever the
// message rate: the browser then composites four changed frames a second
// instead of one per panel per timer.
tw.REDRAW_MS = 250;
const redraws = new Set();
tw.redraw = (fn) => redraws.add(fn);
setInterval(() => {
  if (!redraws.size) return;
  requestAnimationFrame(() => {
    const fns = [...redraws];
    redraws.clear();
    for (const fn of fns) {
      try { fn(); } catch (e) { tw.notice(`Could not redraw: ${e.message}`); }
    }
  });
}, tw.REDRAW_MS);

tw.fmt = (v, digits) => (typeof v === 'number' ? v.toFixed(digits) : v ?? '—');
tw.esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
