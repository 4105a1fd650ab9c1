// fleet.js -- the fleet map: one marker per vehicle, moved in place, drawn offline on a local grid
'use strict';

tw.fleet = (() => {
  const MAX_VEHICLES = 5000;    // markers on one map are bounded
  const params = new URLSearchParams(location.search);
  // The simulator's default area; ?area=latMin,lonMin,latMax,lonMax for another.
  const a = (params.get('area') || '52.33,4.85,52.40,4.95').split(',').map(Number);
  const area = a.length === 4 && a.every(Number.isFinite) ? a : [52.33, 4.85, 52.40, 4.95];
  const bounds = L.latLngBounds([area[0], area[1]], [area[2], area[3]]);
  const vehicles = new Map();   // id -> {marker, rec, popup}
  const map = L.map('map', { preferCanvas: false, zoomSnap: 0.25 }).fitBounds(bounds.pad(0.05));

  // No tile server is assumed (none is reachable offline): the area outline,
  // a grid every 0.01 degree (about 1 km) and the depot are drawn locally.
  // ?tiles=URL-template adds a tile layer on top when one is reachable.
  function drawBase() {
    const step = 0.01;
    const grid = L.layerGroup().addTo(map);
    const around = bounds.pad(0.5);
    for (let lat = Math.ceil(around.getSouth() / step) * step; lat <= around.getNorth(); lat += step) {
      L.polyline([[lat, around.getWest()], [lat, around.getEast()]], { color: '#c5ccd8', weight: 1, interactive: false }).addTo(grid);
      L.marker([lat, bounds.getWest()], { interactive: false, icon: L.divIcon({ className: 'grid-label', html: lat.toFixed(2), iconSize: [40, 12], iconAnchor: [44, 6] }) }).addTo(grid);
    }
    for (let lon = Math.ceil(around.getWest() / step) * step; lon <= around.getEast(); lon += step) {
      L.polyline([[around.getSouth(), lon], [around.getNorth(), lon]], { color: '#c5ccd8', weight: 1, interactive: false }).addTo(grid);
    }
    L.rectangle(bounds, { color: '#1d2430', weight: 2, fill: false, interactive: false }).addTo(map);
    L.circleMarker(bounds.getCenter(), { radius: 7, color: '#1d2430', fillColor: '#fff', fillOpacity: 1 })
      .bindTooltip('depot').addTo(map);
    const tiles = params.get('tiles');
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19 }).on('tileerror', () => tw.notice('Map tiles are unreachable; the map shows the local grid only.')).addTo(map);
    }
  }
  drawBase();
  // The panel gets its size once the page's grid is laid out.
  const fit = () => { map.invalidateSize(); map.fitBounds(bounds.pad(0.05)); };
  window.addEventListener('load', fit);
  window.addEventListener('resize', () => map.invalidateSize());

  function colour(id, rec) {
    if (tw.alerts.active(id)) return '#d32f2f';
    if (rec.values.mode === 'returning') return '#ef8a00';
    if (rec.values.mode === 'parked') return '#7d8796';
    return '#1565c0';
  }

  function icon(id) {
    return L.divIcon({
      className: 'vehicle-icon',
      iconSize: [28, 28],
      iconAnchor: [14, 14],
      html: `<svg width="28" height="28" viewBox="-14 -14 28 28"><g class="arrow"><path d="M0,-12 L8,9 L0,4 L-8,9 Z" stroke="#fff" stroke-width="1.5"/></g>`
        + `<text class="vehicle-label" x="12" y="-8">${tw.esc(id.replace(/^veh-0*/, ''))}</text></svg>`,
    });
  }

  function details(v) {
    const x = v.rec.values;
    const alerts = tw.alerts.list(v.id).map((e) => `${e.name ?? e.type} ${e.bound ?? e.event ?? ''}`).join(', ');
    v.popup.querySelector('tbody').innerHTML = [
      ['speed', `${tw.fmt(x.speed, 1)} km/h`], ['heading', `${tw.fmt(x.heading, 0)}°`],
      ['position', `${tw.fmt(x.lat, 5)}, ${tw.fmt(x.lon, 5)}`], ['fuel', `${tw.fmt(x.fuel, 1)} %`],
      ['engine', `${tw.fmt(x.engine_temp, 1)} °C`], ['odometer', `${tw.fmt(x.odometer, 1)} km`],
      ['mode', x.mode ?? '—'], ['alerts', alerts || 'none'],
      ['updated', new Date(v.rec.ts).toLocaleTimeString()],
    ].map(([k, val]) => `<tr><td>${k}</td><td>${tw.esc(val)}</td></tr>`).join('');
  }

  function makePopup(id) {
    const el = document.createElement('div');
    el.className = 'popup';
    el.innerHTML = `<b>${tw.esc(id)}</b><table><tbody></tbody></table>`
      + '<button data-command="go_home">go home</button><button data-command="resume">resume route</button>'
      + '<div class="command-result"></div>';
    el.addEventListener('click', async (ev) => {
      const command = ev.target.dataset?.command;
      if (!command) return;
      const out = el.querySelector('.command-result');
      out.textContent = `sending ${command}…`;
      try {
        out.textContent = await tw.sendCommand(id, command);
      } catch (e) {
        out.textContent = `${command} failed: ${e.message.replace(/^.*HubException: /, '')}`;
      }
    });
    return el;
  }

  function paint(v) {
    const el = v.marker.getElement();
    if (!el) return;
    const g = el.querySelector('.arrow');
    g.setAttribute('transform', `rotate(${Number(v.rec.values.heading) || 0})`);
    g.setAttribute('fill', colour(v.id, v.rec));
    el.title = `${v.id}: ${tw.fmt(v.rec.values.speed, 0)} km/h, heading ${tw.fmt(v.rec.values.heading, 0)}°`;
    el.dataset.device = v.id;
    el.dataset.alert = tw.alerts.active(v.id) ? 'raised' : 'none';
  }

  function onTelemetry(rec) {
    const { lat, lon } = rec.values;
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) return;
    let v = vehicles.get(rec.device);
    if (!v) {
      if (vehicles.size >= MAX_VEHICLES) return;
      v = { id: rec.device, rec, popup: makePopup(rec.device) };
      v.marker = L.marker([lat, lon], { icon: icon(rec.device), keyboard: false }).bindPopup(v.popup, { minWidth: 200 }).addTo(map);
      v.marker.on('popupopen', () => details(v));
      vehicles.set(rec.device, v);
      document.getElementById('fleet-count').textContent = `(${vehicles.size} vehicles)`;
    }
    v.rec = rec;
    v.marker.setLatLng([lat, lon]);
    paint(v);
    if (v.marker.isPopupOpen()) details(v);
  }

  function onAlert(device) {
    const v = vehicles.get(device);
    if (v) { paint(v); if (v.marker.isPopupOpen()) details(v); }
  }

  return { onTelemetry, onAlert, vehicles, map };
})();
