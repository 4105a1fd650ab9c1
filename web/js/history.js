// history.js -- GET /api/history with the client's token: a chart, a table and a CSV download
'use strict';

tw.history = (() => {
  const form = document.getElementById('history-form');
  const status = document.getElementById('history-status');
  const csvLink = document.getElementById('csv');
  const MAX_ROWS_SHOWN = 2000;  // the table; the chart and the CSV take every point
  let chart = null;
  let csvUrl = null;

  function say(text, error = false) {
    status.textContent = text;
    status.className = error ? 'status error' : 'status';
    status.dataset.state = error ? 'error' : 'ok';
  }

  // {key: [{ts, value}]} -> rows [ts, v1, v2, ...] sorted by ts, one per distinct ts.
  function toRows(keys, answer) {
    const byTs = new Map();
    keys.forEach((k, i) => {
      for (const p of answer[k] ?? []) {
        if (!byTs.has(p.ts)) byTs.set(p.ts, new Array(keys.length).fill(null));
        byTs.get(p.ts)[i] = p.value;
      }
    });
    return [...byTs.entries()].sort((x, y) => x[0] - y[0]).map(([ts, vals]) => [ts, ...vals]);
  }

  function draw(keys, rows) {
    const el = document.getElementById('history-chart');
    chart?.destroy();
    chart = null;
    el.replaceChildren();
    if (!rows.length) return;
    const num = (v) => (typeof v === 'number' ? v : typeof v === 'boolean' ? Number(v) : null);
    const data = [rows.map((r) => r[0] / 1000), ...keys.map((_, i) => rows.map((r) => num(r[i + 1])))];
    const colors = ['#1565c0', '#d32f2f', '#2e7d32', '#6a1b9a', '#ef6c00'];
    chart = new uPlot({
      width: Math.max(el.clientWidth - 8, 300), height: 260,
      series: [{}, ...keys.map((k, i) => ({ label: k, stroke: colors[i % colors.length], spanGaps: true, width: 1.5 }))],
      scales: { x: { time: true } },
    }, data, el);
  }

  function table(keys, rows) {
    const t = document.getElementById('history-table');
    t.tHead.innerHTML = `<tr><th>time</th>${keys.map((k) => `<th>${tw.esc(k)}</th>`).join('')}</tr>`;
    t.tBodies[0].innerHTML = rows.slice(-MAX_ROWS_SHOWN).reverse().map((r) =>
      `<tr><td>${new Date(r[0]).toLocaleString()}</td>${r.slice(1).map((v) => `<td>${v === null ? '' : tw.esc(typeof v === 'number' ? +v.toFixed(4) : v)}</td>`).join('')}</tr>`).join('');
  }

  function csv(device, keys, rows) {
    const q = (v) => (v === null ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
    const text = [['ts', 'time', ...keys].join(','), ...rows.map((r) => [r[0], new Date(r[0]).toISOString(), ...r.slice(1)].map(q).join(','))].join('\n');
    if (csvUrl) URL.revokeObjectURL(csvUrl);
    csvUrl = URL.createObjectURL(new Blob([`${text}\n`], { type: 'text/csv' }));
    csvLink.href = csvUrl;
    csvLink.download = `${device}-history.csv`;
    csvLink.hidden = false;
  }

  async function query(ev) {
    ev?.preventDefault();
    const f = new FormData(form);
    const device = f.get('device').trim();
    const keys = f.get('keys').split(',').map((k) => k.trim()).filter(Boolean);
    const agg = f.get('agg');
    const endTs = Date.now() + 1000, startTs = endTs - Number(f.get('range'));
    const q = new URLSearchParams({ device, keys: keys.join(','), startTs, endTs, agg, orderBy: 'ASC', limit: '10000' });
    if (agg !== 'NONE') q.set('interval', f.get('interval'));
    csvLink.hidden = true;
    say(`querying ${device}…`);
    let res;
    try {
      res = await fetch(`/api/history?${q}`, { headers: { Authorization: `Bearer ${await tw.accessToken()}` } });
    } catch (e) {
      say(`The hub is down or unreachable (${e.message}); try again when the connection is back.`, true);
      return;
    }
    let body;
    try { body = await res.json(); } catch { body = null; }
    if (res.status === 404) { say(`Unknown device "${device}": it has never sent anything (or its history was removed).`, true); draw(keys, []); return; }
    if (!res.ok) { say(`The hub refused the query (${res.status}): ${body?.error ?? res.statusText}`, true); return; }
    const rows = toRows(keys, body ?? {});
    draw(keys, rows);
    table(keys, rows);
    if (!rows.length) {
      say(`No values of ${keys.join(', ')} for ${device} in the chosen range.`);
      return;
    }
    csv(device, keys, rows);
    say(`${rows.length} rows for ${device} (${agg === 'NONE' ? 'raw values' : `${agg.toLowerCase()} per ${f.get('interval') / 1000} s`}).`);
  }
  form.addEventListener('submit', query);

  // Devices seen live fill the device list; a sensor suggests temp, a vehicle speed.
  const seen = new Set();
  function onTelemetry(rec) {
    if (seen.has(rec.device) || seen.size >= 5000) return;
    seen.add(rec.device);
    const o = document.createElement('option');
    o.value = rec.device;
    document.getElementById('device-list').appendChild(o);
  }
  form.device.addEventListener('change', () => {
    const d = form.device.value;
    if (d.startsWith('veh-') && form.keys.value === 'temp') form.keys.value = 'speed,fuel';
    if (d.startsWith('temp-') && form.keys.value === 'speed,fuel') form.keys.value = 'temp';
  });

  return { onTelemetry, query };
})();
