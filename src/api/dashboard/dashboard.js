'use strict';
const kClasses = ['short', 'medium', 'long'];
const kStates = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'];
const kLatency = [['queue_wait_seconds', 'queue-wait', 'Queue wait'],
                  ['time_to_first_token_seconds', 'ttft', 'Time to first token'],
                  ['run_seconds', 'run', 'Run time']];
const kWindowMs = 15 * 60 * 1000;
const kDash = '\u2013';
const kColors = {short: '#2f6fdf', medium: '#e0861b', long: '#8b4fd6',
                 prefill: '#1f9d55', decode: '#2f6fdf', recent: '#1c2333', drain: '#d63b3b'};
const refreshMs = (() => {
  const s = parseFloat(new URLSearchParams(location.search).get('refresh'));
  return Math.round(1000 * (isFinite(s) ? Math.min(Math.max(s, 0.2), 3600) : 2));
})();

let updates = 0;
let lastUpdate = null;
let samples = [];  // {t, depth:{class:n}, tokens:{class:n}, drain, prefill, decode, recent}

function num(v) { return typeof v === 'number' && isFinite(v) ? v : null; }
function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;',
                                              '"': '&quot;', "'": '&#39;'}[c]));
}
function fmtCount(v) {
  v = num(v);
  if (v === null) return kDash;
  const a = Math.abs(v);
  if (a < 1000) return Number.isInteger(v) ? String(v) : v.toFixed(a < 10 ? 1 : 0);
  for (const [unit, scale] of [['T', 1e12], ['G', 1e9], ['M', 1e6], ['k', 1e3]]) {
    if (a >= scale) {
      const x = v / scale;
      return (Math.abs(x) < 100 ? x.toFixed(1) : x.toFixed(0)) + unit;
    }
  }
}
function fmtDuration(s) {
  s = num(s);
  if (s === null) return kDash;
  if (s < 0) s = 0;
  if (s < 1) return s === 0 ? '0s' : Math.round(s * 1000) + 'ms';
  if (s < 10) return s.toFixed(1) + 's';
  if (s < 60) return Math.round(s) + 's';
  const pad = n => String(n).padStart(2, '0');
  if (s < 3600) return Math.floor(s / 60) + 'm ' + pad(Math.floor(s % 60)) + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h ' + pad(Math.floor(s % 3600 / 60)) + 'm';
  return Math.floor(s / 86400) + 'd ' + Math.floor(s % 86400 / 3600) + 'h';
}
// Axis labels: one short unit.
function fmtDurationShort(s) {
  if (s < 60) return Math.round(s) + 's';
  if (s < 3600) return +(s / 60).toFixed(1) + 'm';
  return +(s / 3600).toFixed(1) + 'h';
}
function byId(id) { return document.getElementById(id); }
function field(testid) { return document.querySelector('[data-testid="' + testid + '"]'); }
function setField(testid, raw, text) {
  const e = field(testid);
  if (!e) return;
  e.dataset.value = raw === null || raw === undefined ? '' : String(raw);
  e.textContent = text;
}
function bar(done, total, color) {
  const d = num(done), t = num(total);
  const pct = d !== null && t ? Math.min(100, 100 * d / t) : 0;
  return '<div class="bar"><i style="width:' + pct.toFixed(1) + '%;background:' + color +
         '"></i><span>' + fmtCount(d) + ' / ' + fmtCount(t) + '</span></div>';
}

function renderQueue(q) {
  const classes = q.classes || {};
  let oldest = null, maxTokens = 0;
  let rows = '';
  for (const c of kClasses) {
    const s = classes[c] || {};
    const age = num(s.oldest_age_seconds);
    if (age !== null && (oldest === null || age > oldest)) oldest = age;
    maxTokens += num(s.queued_max_tokens) || 0;
    rows += '<tr><td><span class="dot c-' + c + '"></span>' + c + '</td>' +
            '<td class="num" data-testid="class-' + c + '-queued"></td>' +
            '<td class="num" data-testid="class-' + c + '-queued-tokens"></td>' +
            '<td class="num" data-testid="class-' + c + '-queued-max-tokens"></td>' +
            '<td class="num" data-testid="class-' + c + '-oldest-age"></td></tr>';
  }
  const tbody = byId('classes');
  if (!tbody.rows.length) tbody.innerHTML = rows;
  for (const c of kClasses) {
    const s = classes[c] || {};
    setField('class-' + c + '-queued', num(s.queued), fmtCount(s.queued));
    setField('class-' + c + '-queued-tokens', num(s.queued_prompt_tokens),
             fmtCount(s.queued_prompt_tokens));
    setField('class-' + c + '-queued-max-tokens', num(s.queued_max_tokens),
             fmtCount(s.queued_max_tokens));
    setField('class-' + c + '-oldest-age', num(s.oldest_age_seconds),
             fmtDuration(s.oldest_age_seconds));
  }
  setField('queued-total', num(q.queued), fmtCount(q.queued));
  setField('queued-tokens', num(q.queued_prompt_tokens), fmtCount(q.queued_prompt_tokens));
  setField('queued-max-tokens', maxTokens, fmtCount(maxTokens));
  setField('queued-oldest-age', oldest, fmtDuration(oldest));

  const running = Array.isArray(q.running) ? q.running : [];
  const engine = q.engine || {};
  setField('running-count', running.length, String(running.length));
  byId('slots').textContent = fmtCount(engine.parallel);
  const shown = running.slice().sort((a, b) => (num(b.running_seconds) || 0) -
                                               (num(a.running_seconds) || 0)).slice(0, 10);
  let html = '';
  for (const j of shown) {
    const c = kClasses.includes(j.length_class) ? j.length_class : 'short';
    html += '<tr data-testid="running-job" data-id="' + esc(j.id) + '">' +
            '<td class="mono" title="' + esc(j.id) + '">' + esc(String(j.id).slice(-12)) + '</td>' +
            '<td><span class="dot c-' + c + '"></span>' + esc(j.length_class) + '</td>' +
            '<td>' + bar(j.prompt_tokens_read, j.prompt_tokens, kColors[c]) + '</td>' +
            '<td>' + bar(j.completion_tokens, j.max_tokens, kColors[c]) + '</td>' +
            '<td class="num">' + fmtDuration(j.running_seconds) + '</td></tr>';
  }
  if (running.length > shown.length) {
    html += '<tr><td colspan="5" class="muted">+ ' + (running.length - shown.length) +
            ' more</td></tr>';
  }
  byId('running').innerHTML = html || '<tr><td colspan="5" class="empty">no job running</td></tr>';

  const t = q.throughput || {};
  setField('throughput-recent', num(t.recent_tokens_per_second),
           fmtCount(t.recent_tokens_per_second));
  setField('throughput-prefill', num(t.prefill_tokens_per_second),
           fmtCount(t.prefill_tokens_per_second));
  setField('throughput-decode', num(t.decode_tokens_per_second),
           fmtCount(t.decode_tokens_per_second));

  const model = engine.model ? String(engine.model) : null;
  setField('engine-model', model,
           model === null ? kDash : model + (engine.test_model ? ' (test model)' : ''));
  setField('engine-ctx-size', num(engine.ctx_size), fmtCount(engine.ctx_size));
  setField('engine-parallel', num(engine.parallel), fmtCount(engine.parallel));

  const drain = num(q.predicted_drain_seconds);
  setField('predicted-drain', drain, fmtDuration(drain));

  const kv = q.kv || {};
  const used = num(kv.used_tokens), cap = num(kv.capacity_tokens);
  setField('kv-used', used, fmtCount(used));
  setField('kv-capacity', cap, fmtCount(cap));
  const kvPct = used !== null && cap ? 100 * used / cap : null;
  setField('kv-percent', kvPct, kvPct === null ? kDash : kvPct.toFixed(0) + '%');
  const fill = byId('kv-fill');
  fill.style.width = (kvPct === null ? 0 : Math.min(100, kvPct)) + '%';
  fill.style.background = kvPct > 90 ? 'var(--crit)' : kvPct > 75 ? 'var(--warn)' : 'var(--ok)';

  const dead = num(q.dead_letter);
  setField('dead-letter', dead, fmtCount(dead));
  byId('dead-card').classList.toggle('warning', dead > 0);

  const lat = q.latency || {};
  let latRows = '';
  for (const [key, id, name] of kLatency) {
    latRows += '<tr><td>' + name + '</td>';
    for (const p of ['p50', 'p95', 'p99']) {
      latRows += '<td class="num" data-testid="latency-' + id + '-' + p + '"></td>';
    }
    latRows += '</tr>';
  }
  const latBody = byId('latency');
  if (!latBody.rows.length) latBody.innerHTML = latRows;
  for (const [key, id] of kLatency) {
    const m = lat[key] || {};
    for (const p of ['p50', 'p95', 'p99']) {
      setField('latency-' + id + '-' + p, num(m[p]), fmtDuration(m[p]));
    }
  }

  const totals = q.totals || {};
  const states = kStates.concat(Object.keys(totals).filter(s => !kStates.includes(s)));
  let sum = 0;
  for (const s of states) sum += num(totals[s]) || 0;
  let totalRows = '';
  for (const s of states) {
    const n = num(totals[s]) || 0;
    totalRows += '<tr><td>' + esc(s) + '</td><td class="num" data-testid="totals-' + esc(s) +
                 '" data-value="' + n + '">' + fmtCount(n) + '</td><td class="muted num">' +
                 (sum ? (100 * n / sum).toFixed(0) + '%' : '') + '</td></tr>';
  }
  byId('totals').innerHTML = totalRows;

  const depth = {}, tokens = {};
  for (const c of kClasses) {
    depth[c] = num((classes[c] || {}).queued);
    tokens[c] = num((classes[c] || {}).queued_prompt_tokens);
  }
  const now = Date.now();
  samples.push({t: now, depth, tokens, drain, prefill: num(t.prefill_tokens_per_second),
                decode: num(t.decode_tokens_per_second),
                recent: num(t.recent_tokens_per_second)});
  samples = samples.filter(s => s.t >= now - kWindowMs);
}

// The newest batches (GET /v1/batches: the caller's tenant's), those still running first:
// requests done of the total as a bar, failed ones named, and when the batch is expected to
// end beside when its window closes (red when it would end after).
function renderBatches(list) {
  const body = byId('batches');
  if (!list) {
    body.innerHTML = '<tr><td colspan="5" class="muted">the Batch API is not served here</td></tr>';
    return;
  }
  const ended = ['completed', 'failed', 'expired', 'cancelled'];
  const batches = list.data.slice().sort((a, b) =>
      (ended.includes(a.status) - ended.includes(b.status)) || (b.created_at - a.created_at));
  if (batches.length === 0) {
    body.innerHTML = '<tr><td colspan="5" class="muted">no batches</td></tr>';
    return;
  }
  const now = Date.now() / 1000;
  body.innerHTML = batches.slice(0, 8).map(b => {
    const c = b.request_counts;
    const done = c.completed + c.failed;
    const late = b.estimated_finish_at && b.estimated_finish_at > b.expires_at;
    const running = !ended.includes(b.status);
    return '<tr data-batch="' + esc(b.id) + '"><td title="' + esc(b.id) + '">' +
           esc(b.id.slice(0, 14)) + '\u2026</td><td>' + esc(b.status) + '</td><td>' +
           bar(done, c.total, kColors.short) + (c.failed ? ' <span class="muted">' +
           fmtCount(c.failed) + ' failed</span>' : '') + '</td><td class="num' +
           (late ? ' bad' : '') + '">' + (running && b.estimated_finish_at ?
           'in ' + fmtDurationShort(Math.max(0, b.estimated_finish_at - now)) : '\u2013') +
           '</td><td class="num">' + (running ? 'in ' +
           fmtDurationShort(Math.max(0, b.expires_at - now)) : '\u2013') + '</td></tr>';
  }).join('');
}

function renderAlerts(a) {
  const status = field('alerts-status');
  const banner = byId('banner');
  const card = byId('alerts-card');
  if (!a || typeof a !== 'object') {
    status.textContent = 'alerts unavailable';
    status.className = 'status-line bad';
    setField('alerts-firing', null, kDash);
    byId('alerts-sub').textContent = 'unavailable';
    byId('alerts-active').innerHTML = '';
    byId('alerts-history').innerHTML = '';
    byId('history-label').hidden = true;
    banner.hidden = true;
    card.className = 'card';
    return;
  }
  const nowS = Date.now() / 1000;
  const active = (Array.isArray(a.active) ? a.active : [])
                     .filter(x => x && (!x.state || x.state === 'firing'))
                     .sort((x, y) => (y.severity === 'critical') - (x.severity === 'critical') ||
                                     (num(x.starts_at) || 0) - (num(y.starts_at) || 0));
  const critical = active.some(x => x.severity === 'critical');
  const silences = Array.isArray(a.silences) ? a.silences.length : 0;
  setField('alerts-firing', active.length, String(active.length));
  byId('alerts-sub').textContent = silences ? silences + ' silence' + (silences > 1 ? 's' : '')
                                            : 'no silences';
  card.className = 'card' + (critical ? ' alerting' : active.length ? ' warning' : '');
  const name = x => x.alertname || (x.labels || {}).alertname || 'alert';
  const summary = x => (x.annotations || {}).summary || (x.annotations || {}).description || '';
  if (active.length) {
    banner.className = critical ? 'critical' : 'warning';
    banner.hidden = false;
    banner.textContent = '\u26a0 ' + active.length + ' alert' + (active.length > 1 ? 's' : '') +
        ' firing: ' + active.slice(0, 3).map(x => name(x) + ' (' + (x.severity || '?') + ')' +
                                              (summary(x) ? ': ' + summary(x) : ''))
                          .join(' \u00b7 ') +
        (active.length > 3 ? ' \u00b7 +' + (active.length - 3) + ' more' : '');
    status.textContent = '';
    status.className = 'status-line';
  } else {
    banner.hidden = true;
    status.textContent = 'no alerts firing';
    status.className = 'status-line good';
  }
  const labelText = x => Object.entries(x.labels || {})
                             .filter(([k]) => k !== 'alertname' && k !== 'severity')
                             .map(([k, v]) => k + '=' + v).join(' ');
  let rows = '';
  for (const x of active.slice(0, 6)) {
    const sev = esc(x.severity || '');
    const since = num(x.starts_at);
    rows += '<tr data-testid="alert-active"><td><span class="sev ' + sev + '">' + sev +
            '</span></td><td><b>' + esc(name(x)) + '</b> <span class="muted">' +
            esc(labelText(x)) + '</span></td><td class="wrap">' + esc(summary(x)) + '</td>' +
            '<td class="num">' + fmtCount(x.value) + ' / ' + fmtCount(x.threshold) + '</td>' +
            '<td class="num">' + (since === null ? kDash : fmtDuration(nowS - since)) +
            '</td></tr>';
  }
  byId('alerts-active').innerHTML = rows;
  const history = (Array.isArray(a.history) ? a.history : [])
                      .filter(x => x && num(x.resolved_at) !== null)
                      .sort((x, y) => y.resolved_at - x.resolved_at).slice(0, 4);
  rows = '';
  for (const x of history) {
    const sev = esc(x.severity || '');
    const lasted = num(x.starts_at) === null ? null : x.resolved_at - x.starts_at;
    rows += '<tr><td><span class="sev ' + sev + '">' + sev + '</span></td><td>' +
            esc(name(x)) + ' <span class="muted">' + esc(labelText(x)) + '</span></td>' +
            '<td class="num muted">lasted ' + fmtDuration(lasted) + '</td><td class="num muted">' +
            fmtDuration(nowS - x.resolved_at) + ' ago</td></tr>';
  }
  byId('alerts-history').innerHTML = rows;
  byId('history-label').hidden = !rows;
}

function niceCeil(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  const m = v / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}
// Seconds: round up to a span people read at a glance (15m, not 16.7m).
function niceSecondsCeil(v) {
  for (const s of [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400]) {
    if (v <= s) return s;
  }
  return niceCeil(v / 86400) * 86400;
}

// series: [{name, color, pick(sample) -> number|null}]
function drawChart(svgId, keyId, series, fmt, ceil = niceCeil) {
  const svg = byId(svgId);
  const w = svg.clientWidth || 300, h = svg.clientHeight || 110;
  const left = 42, right = 6, top = 6, bottom = 15;
  const now = Date.now();
  const first = samples.length ? samples[0].t : now;
  const span = Math.min(kWindowMs, Math.max(60 * 1000, now - first));
  let max = 0, any = false;
  for (const s of series) {
    for (const p of samples) {
      const v = s.pick(p);
      if (v !== null) { any = true; max = Math.max(max, v); }
    }
  }
  max = ceil(max);
  const x = t => left + (t - (now - span)) / span * (w - left - right);
  const y = v => top + (1 - v / max) * (h - top - bottom);
  let out = '';
  for (const f of [0, 0.5, 1]) {
    const yy = y(max * f).toFixed(1);
    out += '<line x1="' + left + '" x2="' + (w - right) + '" y1="' + yy + '" y2="' + yy + '"/>' +
           '<text x="' + (left - 4) + '" y="' + (+yy + 3) + '" text-anchor="end">' +
           esc(fmt(max * f)) + '</text>';
  }
  out += '<text x="' + left + '" y="' + (h - 2) + '">\u2212' + fmtDurationShort(span / 1000) +
         '</text><text x="' + (w - right) + '" y="' + (h - 2) + '" text-anchor="end">now</text>';
  let key = '';
  for (const s of series) {
    let d = '', pen = false, last = null;
    for (const p of samples) {
      const v = s.pick(p);
      if (v === null) { pen = false; continue; }
      d += (pen ? 'L' : 'M') + x(p.t).toFixed(1) + ' ' + y(v).toFixed(1);
      pen = true;
      last = [p.t, v];
    }
    if (d) {
      out += '<path d="' + d + '" fill="none" stroke="' + s.color +
             '" stroke-width="1.8" stroke-linejoin="round"/>';
      out += '<circle cx="' + x(last[0]).toFixed(1) + '" cy="' + y(last[1]).toFixed(1) +
             '" r="2.5" fill="' + s.color + '"/>';
    }
    key += '<span style="color:' + s.color + '">\u25cf</span> ' + esc(s.name) +
           (last ? ' ' + esc(fmt(last[1])) : '') + ' &nbsp;';
  }
  if (!any) {
    out += '<text x="' + ((w + left) / 2) + '" y="' + (h / 2) +
           '" text-anchor="middle">no data yet</text>';
  }
  svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
  svg.innerHTML = out;
  byId(keyId).innerHTML = key;
}

function drawCharts() {
  const perClass = field => kClasses.map(c => ({name: c, color: kColors[c],
                                                pick: s => s[field][c]}));
  drawChart('chart-depth', 'key-depth', perClass('depth'), fmtCount);
  drawChart('chart-tokens', 'key-tokens', perClass('tokens'), fmtCount);
  const drain = [{name: 'drain', color: kColors.drain, pick: s => s.drain}];
  drawChart('chart-drain', 'key-drain', drain, fmtDurationShort, niceSecondsCeil);
  const rates = ['recent', 'prefill', 'decode'].map(k => ({name: k, color: kColors[k],
                                                          pick: s => s[k]}));
  drawChart('chart-rate', 'key-rate', rates, fmtCount);
}

function setConn(ok, text) {
  const conn = byId('conn');
  conn.className = ok ? 'ok' : 'err';
  conn.textContent = text;
}

// A server with API keys: open the page as /#key=KEY once; the key is kept for this tab
// (sessionStorage) and taken out of the address bar.
const keyMatch = /(?:^#|&)key=([^&]+)/.exec(location.hash);
if (keyMatch) {
  sessionStorage.setItem('glmqKey', decodeURIComponent(keyMatch[1]));
  history.replaceState(null, '', location.pathname + location.search);
}

async function getJson(path) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 10000);
  try {
    const key = sessionStorage.getItem('glmqKey');
    const headers = key ? {Authorization: 'Bearer ' + key} : {};
    // Relative, so the page also works behind a proxy that adds a path prefix.
    const r = await fetch(path, {cache: 'no-store', signal: abort.signal, headers});
    if (r.status === 401) throw new Error('this server wants an API key: open the page as /#key=KEY');
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return await r.json();
  } finally {
    clearTimeout(timer);
  }
}

async function refresh() {
  const [queue, alerts, batches] = await Promise.allSettled(
      [getJson('v1/queue'), getJson('v1/alerts'), getJson('v1/batches?limit=20')]);
  try {
    renderAlerts(alerts.status === 'fulfilled' ? alerts.value : null);
    renderBatches(batches.status === 'fulfilled' ? batches.value : null);
    if (queue.status === 'fulfilled') {
      renderQueue(queue.value);
      drawCharts();
      lastUpdate = new Date();
      updates += 1;
      document.body.dataset.updated = String(updates);
      setConn(true, 'live \u00b7 every ' + refreshMs / 1000 + 's \u00b7 updated ' +
                        lastUpdate.toLocaleTimeString());
    } else {
      setConn(false, 'cannot reach the queue (' + queue.reason.message + ')' +
                         (lastUpdate ? '; showing ' + lastUpdate.toLocaleTimeString() : ''));
    }
  } catch (e) {
    setConn(false, 'cannot show the data: ' + e.message);
  }
  setTimeout(refresh, refreshMs);
}

window.addEventListener('resize', drawCharts);
refresh();
