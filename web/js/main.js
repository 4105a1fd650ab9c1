// main.js -- wires the hub's messages to the dashboards and starts the connection
'use strict';

tw.handlers.telemetry = (rec) => {
  tw.history.onTelemetry(rec);
  if (Number.isFinite(rec.values.lat) && Number.isFinite(rec.values.lon)) tw.fleet.onTelemetry(rec);
  else if ('temp' in rec.values) tw.temps.onTelemetry(rec);
};

tw.handlers.alert = (e) => {
  if (e.type === 'geofence') { tw.fleet.onGeofence(e); return; }
  tw.alerts.apply(e);
  tw.temps.onAlert(e);
  tw.fleet.onAlert(e.device);
};

setInterval(() => {
  document.getElementById('rate').textContent = `${tw.received} msg/s`;
  tw.received = 0;
}, 1000);

window.telewire = tw;   // for the browser tests and the console
tw.start();
