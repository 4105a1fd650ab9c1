// fleet.js -- the fleet map: every vehicle drawn on one canvas, moved in place, on a local grid;
// geofence zones and their enter/leave events
'use strict';

tw.fleet = (() => {
  const MAX_VEHICLES = 5000;    // vehicles on one map are bounded
  const MAX_EVENTS = 50;        // geofence events listed
  const LABELS_UP_TO = 200;     // beyond this many vehicles, ids are not written next to the arrows
  const HIT_PX = 14;            // a click this close to an arrow picks its vehicle
  const ARROW = [0, -12, 8, 9, 0, 4, -8, 9];   // x,y of the arrow's corners, pointing north
  const params = new URLSearchParams(location.search);
  // The simulator's default area; ?area=latMin,lonMin,latMax,lonMax for another.
  const a = (params.get('area') || '52.33,4.85,52.40,4.95').split(',').map(Number);
  const area = a.length === 4 && a.every(Number.isFinite) ? a : [52.33, 4.85, 52.40, 4.95];
  const bounds = L.latLngBounds([area[0], area[1]], [area[2], area[3]]);
  const vehicles = new Map();   // id -> {id, rec, lat, lon, colour, popup}
  const map = L.map('map', { zoomSnap: 0.25 }).fitBounds(bounds.pad(0.05));

  // Geofence zones drawn on the map: ?geofence=NAME:lat,lon;lat,lon;... (repeatable),
  // by default the zone scripts/demo-ingest.ini puts around the depot.
  function zonesOf() {
    const given = params.getAll('geofence');
    if (!given.length && !params.has('area')) return [{ name: 'depot', pts: [[52.361, 4.894], [52.361, 4.906], [52.369, 4.906], [52.369, 4.894]] }];
    return given.map((g) => {
      const [name, list = ''] = g.split(':');
      const pts = list.split(';').map((p) => p.split(',').map(Number)).filter((p) => p.length === 2 && p.every(Number.isFinite));
      return { name, pts };
    }).filter((z) => z.name && z.pts.length >= 3);
  }

  // No tile server is assumed (none is reachable offline): the area outline,
  // a grid every 0.01 degree (about 1 km), the depot and the geofence zones
  // are drawn locally. ?tiles=URL-template adds a tile layer when one is reachable.
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
    for (const z of zonesOf()) {
      L.polygon(z.pts, { color: '#6a1b9a', weight: 1.5, dashArray: '4 3', fillOpacity: 0.06, interactive: false }).addTo(map);
      L.marker(z.pts[0], { interactive: false, icon: L.divIcon({ className: 'zone-label', html: tw.esc(z.name), iconSize: [80, 12], iconAnchor: [0, -2] }) }).addTo(map);
    }
    L.circleMarker(bounds.getCenter(), { radius: 7, color: '#1d2430', fillColor: '#fff', fillOpacity: 1, interactive: false }).addTo(map);
    const tiles = params.get('tiles');
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19 }).on('tileerror', () => tw.notice('Map tiles are unreachable; the map shows the local grid only.')).addTo(map);
    }
  }
  drawBase();

  function colour(v) {
    if (tw.alerts.active(v.id)) return '#d32f2f';
    if (v.rec.values.mode === 'returning') return '#ef8a00';
    if (v.rec.values.mode === 'parked') return '#7d8796';
    return '#1565c0';
  }

  // The vehicles live on one canvas over the map, not one DOM element each:
  // a thousand moving SVG markers cost the browser a repaint of most of the
  // map every frame, one canvas redrawn four times a second (tw.redraw) does not. One
  // path per colour, filled and outlined once: a software-rendered canvas
  // pays per drawing call far more than per point.
  const VehicleLayer = L.Layer.extend({
    onAdd(m) {
      this.canvas = L.DomUtil.create('canvas', 'vehicle-layer leaflet-zoom-hide');
      m.getPanes().overlayPane.appendChild(this.canvas);
      this.ctx = this.canvas.getContext('2d');
      m.on('moveend zoomend resize viewreset', this.reset, this);
      this.reset();
    },
    onRemove(m) {
      m.off('moveend zoomend resize viewreset', this.reset, this);
      this.canvas.remove();
    },
    // The canvas covers the visible map; after a pan or zoom it is put back and redrawn.
    reset() {
      const size = map.getSize(), dpr = window.devicePixelRatio || 1;
      this.canvas.width = size.x * dpr;
      this.canvas.height = size.y * dpr;
      this.canvas.style.width = `${size.x}px`;
      this.canvas.style.height = `${size.y}px`;
      L.DomUtil.setPosition(this.canvas, map.containerPointToLayerPoint([0, 0]));
      this.draw();
    },
    draw() {
      const t0 = performance.now();
      const ctx = this.ctx, dpr = window.devicePixelRatio || 1, size = map.getSize();
      const byColour = new Map();   // colour -> [vehicle]
      for (const v of vehicles.values()) {
        const p = map.latLngToContainerPoint([v.lat, v.lon]);
        v.x = p.x;
        v.y = p.y;
        if (p.x < -20 || p.y < -20 || p.x > size.x + 20 || p.y > size.y + 20) continue;
        let list = byColour.get(v.colour);
        if (!list) byColour.set(v.colour, list = []);
        list.push(v);
      }
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, size.x, size.y);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = '#fff';
      for (const [colour, list] of byColour) {
        ctx.beginPath();
        for (const v of list) {
          const h = (Number(v.rec.values.heading) || 0) * Math.PI / 180, c = Math.cos(h), s = Math.sin(h);
          for (let i = 0; i < ARROW.length; i += 2) {
            const x = v.x + ARROW[i] * c - ARROW[i + 1] * s, y = v.y + ARROW[i] * s + ARROW[i + 1] * c;
            if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
          }
          ctx.closePath();
        }
        ctx.fillStyle = colour;
        ctx.fill();
        ctx.stroke();
      }
      if (vehicles.size <= LABELS_UP_TO) {
        ctx.font = '10px system-ui, sans-serif';
        ctx.fillStyle = '#1d2430';
        for (const list of byColour.values()) for (const v of list) ctx.fillText(v.label, v.x + 12, v.y - 8);
      }
      layer.drawn++;
      layer.drawMs += performance.now() - t0;
    },
  });
  const layer = new VehicleLayer();
  layer.drawn = 0;              // redraws so far and the time they took (the
  layer.drawMs = 0;             // frame-time measurement reads them)
  layer.addTo(map);

  const requestDraw = () => tw.redraw(drawVehicles);
  const drawVehicles = () => layer.draw();

  // The page's grid gives the map its size once laid out.
  const fit = () => { map.invalidateSize(); map.fitBounds(bounds.pad(0.05)); layer.reset(); };
  window.addEventListener('load', fit);
  window.addEventListener('resize', () => map.invalidateSize());

  // Clicks and hovering pick the nearest vehicle within HIT_PX.
  function hit(pt) {
    let best = null, bestD = HIT_PX * HIT_PX;
    for (const v of vehicles.values()) {
      const d = (v.x - pt.x) ** 2 + (v.y - pt.y) ** 2;
      if (d <= bestD) { best = v; bestD = d; }
    }
    return best;
  }
  const popup = L.popup({ minWidth: 200, autoPan: false });
  let openId = null;
  map.on('click', (e) => { const v = hit(e.containerPoint); if (v) open(v.id); });
  map.on('mousemove', (e) => {
    const v = hit(e.containerPoint);
    map.getContainer().style.cursor = v ? 'pointer' : '';
    map.getContainer().title = v ? `${v.id}: ${tw.fmt(v.rec.values.speed, 0)} km/h, heading ${tw.fmt(v.rec.values.heading, 0)}°` : '';
  });
  popup.on('remove', () => { openId = null; });

  // Opens the details and commands of a vehicle.
  function open(id) {
    const v = vehicles.get(id);
    if (!v) return false;
    v.popup ??= makePopup(id);
    openId = id;
    details(v);
    popup.setLatLng([v.lat, v.lon]).setContent(v.popup).openOn(map);
    return true;
  }

  function details(v) {
    const x = v.rec.values;
    const alerts = tw.alerts.list(v.id).map((e) => `${e.name ?? e.type} ${e.bound ?? e.event ?? ''}`).join(', ');
    v.popup.querySelector('tbody').innerHTML = [
      ['speed', `${tw.fmt(x.speed, 1)} km/h`], ['heading', `${tw.fmt(x.heading, 0)}°`],
      ['position', `${tw.fmt(x.lat, 5)}, ${tw.fmt(x.lon, 5)}`], ['fuel', `${tw.fmt(x.fuel, 1)} %`],
      ['engine', `${tw.fmt(x.engine_temp, 1)} °C`], ['odometer', `${tw.fmt(x.odometer, 1)} km`],
      ['mode', x.mode ?? '—'], ['alerts', alerts || 'none'], ['in zones', [...(inside.get(v.id) ?? [])].join(', ') || 'none'],
      ['updated', new Date(v.rec.ts).toLocaleTimeString()],
    ].map(([k, val]) => `<tr><td>${k}</td><td>${tw.esc(val)}</td></tr>`).join('');
  }

  function makePopup(id) {
    const el = document.createElement('div');
    el.className = 'popup';
    el.dataset.device = id;
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

  function onTelemetry(rec) {
    const { lat, lon } = rec.values;
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) return;
    let v = vehicles.get(rec.device);
    if (!v) {
      if (vehicles.size >= MAX_VEHICLES) return;
      v = { id: rec.device, label: rec.device.replace(/^veh-0*/, ''), x: NaN, y: NaN, popup: null };
      vehicles.set(rec.device, v);
      document.getElementById('fleet-count').textContent = `(${vehicles.size} vehicles)`;
    }
    v.rec = rec;
    v.lat = lat;
    v.lon = lon;
    v.colour = colour(v);
    requestDraw();
    if (openId === v.id) { details(v); popup.setLatLng([lat, lon]); }
  }

  function onAlert(device) {
    const v = vehicles.get(device);
    if (!v) return;
    v.colour = colour(v);
    requestDraw();
    if (openId === v.id) details(v);
  }

  // Geofence events (ingest's geofence plugin: type "geofence", event
  // "enter" or "leave"): newest first, and who is inside which zone now.
  const inside = new Map();     // device -> Set(zone names)
  const events = [];
  function onGeofence(e) {
    if (e.event !== 'enter' && e.event !== 'leave') return false;
    const zoneName = String(e.name ?? 'zone');
    const set = inside.get(e.device) ?? new Set();
    if (e.event === 'enter') set.add(zoneName); else set.delete(zoneName);
    if (set.size) inside.set(e.device, set); else inside.delete(e.device);
    if (inside.size > MAX_VEHICLES) inside.delete(inside.keys().next().value);
    events.unshift(e);
    events.length = Math.min(events.length, MAX_EVENTS);
    const known = vehicles.has(e.device) ? '' : ' (no telemetry seen from it yet)';
    const li = document.createElement('li');
    li.dataset.device = e.device;
    li.dataset.event = e.event;
    li.dataset.zone = zoneName;
    li.className = e.event;
    li.textContent = `${new Date(Number.isFinite(e.ts) ? e.ts : Date.now()).toLocaleTimeString()} ${e.device}${known} `
      + `${e.event === 'enter' ? 'entered' : 'left'} ${zoneName}`;
    const list = document.getElementById('geofence-events');
    list.prepend(li);
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
    document.getElementById('geofence-count').textContent = `(${events.length} latest)`;
    if (openId === e.device) details(vehicles.get(e.device));
    return true;
  }

  // Where a vehicle is drawn, for the browser tests and the console.
  const where = (id) => {
    const v = vehicles.get(id);
    return v && { lat: v.lat, lon: v.lon, x: v.x, y: v.y, colour: v.colour, heading: v.rec.values.heading };
  };

  return { onTelemetry, onAlert, onGeofence, vehicles, map, layer, open, where, inside: (id) => [...(inside.get(id) ?? [])] };
})();
