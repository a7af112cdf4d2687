// vmeter-web's pages: plain JavaScript, no build step.  Everything shown
// comes from /api/v1 (the server limits it to the user's tenant); text is
// always set with textContent, never parsed as HTML.
'use strict';

const S = { me: null, csrf: null, graphs: [], timer: null };
// For the browser tests: the graphs drawn now (their uPlot objects).
window.vmeter = S;

// ------------------------------------------------------------ helpers

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined) continue;
    e.append(k instanceof Node ? k : String(k));
  }
  return e;
}

async function api(path) {
  const r = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  let j = null;
  try { j = await r.json(); } catch (e) { j = { error: 'not JSON' }; }
  if (r.status === 401) { showLogin(); throw new Error('log in first'); }
  if (!r.ok) throw new Error(j && j.error ? j.error : 'HTTP ' + r.status);
  return j;
}

const fmt = {
  pct: (v) => v === null || v === undefined ? '–' : Number(v).toFixed(1) + ' %',
  num: (v) => v === null || v === undefined ? '–' : String(v),
  kib: (v) => v === null || v === undefined ? '–' : bytes(v * 1024),
  bps: (v) => v === null || v === undefined ? '–' : bytes(v) + '/s',
  time: (v) => v ? new Date(v).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : '–',
};

function bytes(b) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  b = Number(b);
  while (Math.abs(b) >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return (i ? b.toFixed(1) : String(Math.round(b))) + ' ' + u[i];
}

function view(title, ...kids) {
  stopGraphs();
  const v = document.getElementById('view');
  v.replaceChildren(el('h1', {}, title), ...kids);
  document.title = title + ' – vmeter';
}

function table(cols, rows, opts) {
  opts = opts || {};
  let sortCol = opts.sort || null, desc = opts.desc || false;
  const tbody = el('tbody');
  const head = el('tr', {}, cols.map((c) => {
    const th = el('th', { scope: 'col', class: c.num ? 'num' : null });
    if (c.sort === false) th.append(c.title);
    else th.append(el('button', { type: 'button', onclick: () => {
      desc = sortCol === c.key ? !desc : !!c.num;
      sortCol = c.key;
      fill();
    } }, c.title));
    return th;
  }));
  function fill() {
    const rs = rows.slice();
    if (sortCol) {
      rs.sort((a, b) => {
        const x = a[sortCol], y = b[sortCol];
        const r = x === y ? 0 : x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : x < y ? -1 : 1;
        return desc ? -r : r;
      });
    }
    const shown = opts.limit ? rs.slice(0, opts.limit()) : rs;
    tbody.replaceChildren(...shown.map((r) => el('tr', {}, cols.map((c) =>
      el('td', { class: c.num ? 'num' : null }, c.cell ? c.cell(r) : fmt.num(r[c.key]))))));
    if (!shown.length) tbody.append(el('tr', {}, el('td', { colspan: cols.length, class: 'muted' }, 'none')));
  }
  fill();
  const t = el('table', {}, opts.caption ? el('caption', { class: 'muted' }, opts.caption) : null, el('thead', {}, head), tbody);
  t.refill = (newRows) => { if (newRows) rows = newRows; fill(); };
  t.sortBy = (key, d) => { sortCol = key; desc = d; fill(); };
  return t;
}

const vmLink = (r) => el('a', { href: '#/vm/' + r.uuid }, r.name || r.uuid);
const hostLink = (name) => S.me && S.me.role !== 'tenant-viewer' ? el('a', { href: '#/host/' + encodeURIComponent(name) }, name) : name;

// ------------------------------------------------------------ login

function showLogin() {
  S.me = null;
  stopGraphs();
  document.getElementById('login-view').hidden = false;
  document.getElementById('view').replaceChildren();
  document.getElementById('nav').hidden = true;
  document.getElementById('logout').hidden = true;
  document.getElementById('who').textContent = '';
  document.title = 'Log in – vmeter';
}

async function login(ev) {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const st = document.getElementById('login-status');
  st.textContent = '';
  const r = await fetch('/api/v1/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: f.get('user'), password: f.get('password') }) });
  const j = await r.json().catch(() => ({ error: 'HTTP ' + r.status }));
  if (!r.ok) { st.textContent = j.error; return; }
  ev.target.reset();
  await start();
}

async function logout() {
  await fetch('/api/v1/logout', { method: 'POST', headers: { 'X-CSRF-Token': S.csrf || '' } });
  showLogin();
}

async function start() {
  let me;
  try { me = await api('/api/v1/me'); } catch (e) { return; }
  S.me = me;
  S.csrf = me.csrf_token;
  document.getElementById('login-view').hidden = true;
  const nav = document.getElementById('nav');
  nav.hidden = false;
  // a tenant viewer gets no staff links (the server refuses them anyway)
  for (const a of nav.querySelectorAll('[data-staff]')) a.hidden = me.role === 'tenant-viewer';
  document.getElementById('who').textContent = me.user + ' (' + me.role + (me.tenant ? ', ' + me.tenant : '') + ')';
  document.getElementById('logout').hidden = false;
  route();
}

// ------------------------------------------------------------ routes

const routes = [
  [/^#?\/?$/, overview],
  [/^#\/vms$/, vmList],
  [/^#\/vm\/([0-9a-fA-F-]{36})$/, vmPage],
  [/^#\/hosts$/, hostList],
  [/^#\/host\/([^/]+)$/, hostPage],
  [/^#\/alerts$/, alertsPage],
  [/^#\/invoices$/, invoiceList],
  [/^#\/invoice\/(\d+)$/, invoicePage],
  [/^#\/reports$/, reportList],
  [/^#\/plans$/, plansPage],
];

async function route() {
  if (!S.me) return;
  const h = location.hash || '#/';
  for (const a of document.querySelectorAll('#nav a')) {
    const here = a.getAttribute('href') === h || (a.getAttribute('href') !== '#/' && h.startsWith(a.getAttribute('href').replace(/s$/, '')));
    if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  for (const [re, fn] of routes) {
    const m = h.match(re);
    if (m) {
      try { await fn(...m.slice(1).map(decodeURIComponent)); } catch (e) {
        if (S.me) view('Error', el('p', { class: 'error', role: 'alert' }, e.message));
      }
      document.getElementById('main').focus({ preventScroll: true });
      return;
    }
  }
  view('Not found', el('p', {}, 'No such page.'));
}

// ------------------------------------------------------------ overview

function heatClass(p) {
  if (p === null || p === undefined) return 'hn';
  return p < 25 ? 'h0' : p < 50 ? 'h1' : p < 75 ? 'h2' : p < 90 ? 'h3' : 'h4';
}

async function overview() {
  const o = await api('/api/v1/overview');
  const parts = [el('p', { class: 'muted' }, 'Figures of the aggregator as of ' + fmt.time(o.figures_at) + '.')];
  if (S.me.role !== 'tenant-viewer') {
    parts.push(el('h2', {}, 'Hosts'), el('p', { class: 'muted' }, 'Each host with its dominant resource (the larger of CPU busy or demand and memory committed), coloured by how full it is.'));
    parts.push(el('div', { class: 'heat', role: 'list', 'aria-label': 'host heat map' }, o.hosts.map((h) =>
      el('div', { class: 'cell ' + heatClass(h.dominant_pct), role: 'listitem' },
        el('a', { href: '#/host/' + encodeURIComponent(h.name) }, h.name), el('br'),
        h.dominant ? h.dominant + ' ' + fmt.pct(h.dominant_pct) : 'no figures', el('br'),
        el('span', { class: 'muted' }, 'CPU ' + fmt.pct(h.cpu_busy_pct) + ' · mem ' + fmt.pct(h.mem_ratio_pct) + ' · ' + fmt.num(h.vms) + ' VMs')))));
  }
  parts.push(el('h2', {}, 'Cost to date this month'));
  parts.push(table([
    { key: 'tenant', title: 'Tenant' }, { key: 'period', title: 'Month' }, { key: 'state', title: 'State' },
    { key: 'total_nano', title: 'Total', num: true, cell: (r) => r.total + ' ' + r.currency },
    { key: 'invoice', title: 'Invoice', cell: (r) => el('a', { href: '#/invoice/' + r.invoice }, 'view') },
  ], o.cost, { caption: 'from the month\'s draft invoices' }));
  parts.push(el('h2', {}, 'Firing'));
  parts.push(table([
    { key: 'name', title: 'VM', cell: vmLink }, { key: 'dimension', title: 'Dimension' },
    { key: 'class', title: 'Class', cell: (r) => el('span', { class: 'firing' }, r.class) },
    { key: 'since', title: 'Since', cell: (r) => fmt.time(r.since) },
  ], o.classes));
  parts.push(el('h2', {}, 'VMs'));
  parts.push(table([
    { key: 'name', title: 'VM', cell: vmLink }, { key: 'host', title: 'Host', cell: (r) => hostLink(r.host) },
    { key: 'tenant', title: 'Tenant' }, { key: 'state', title: 'State' },
    { key: 'cpu_alloc_pct', title: 'CPU of allocation', num: true, cell: (r) => fmt.pct(r.cpu_alloc_pct) },
    { key: 'cpu_host_pct', title: 'CPU of host', num: true, cell: (r) => fmt.pct(r.cpu_host_pct) },
    { key: 'delay_pct', title: 'Contention', num: true, cell: (r) => fmt.pct(r.delay_pct) },
    { key: 'mem_used_pct', title: 'Memory used', num: true, cell: (r) => fmt.pct(r.mem_used_pct) },
    { key: 'disk_bps', title: 'Disk', num: true, cell: (r) => fmt.bps(r.disk_bps) },
    { key: 'net_bps', title: 'Network', num: true, cell: (r) => fmt.bps(r.net_bps) },
  ], o.vms, { sort: 'cpu_alloc_pct', desc: true }));
  view('Overview', ...parts);
}

// ------------------------------------------------------------ VM list

function spark(points) {
  const c = el('canvas', { class: 'spark', width: 120, height: 24, role: 'img',
    'aria-label': 'CPU of allocation: ' + points.map((p) => p[1] === null ? 'none' : p[1] + ' %').join(', ') });
  const g = c.getContext('2d');
  const vs = points.map((p) => p[1]).filter((v) => v !== null);
  if (!vs.length) return c;
  const max = Math.max(100, ...vs);
  g.strokeStyle = '#1f5fa8';
  g.beginPath();
  points.forEach((p, i) => {
    if (p[1] === null) return;
    const x = points.length > 1 ? i * 119 / (points.length - 1) : 60, y = 23 - p[1] / max * 22;
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
  return c;
}

async function vmList() {
  const range = sessionStorage.getItem('vmeter.range') || '-24h';
  const u = await api('/api/v1/vm-usage?from=' + encodeURIComponent(range));
  const filters = { tenant: '', host: '', tag: '', state: '' };
  let topN = 0;
  const rows = u.vms.map((v) => Object.assign({}, v, { tagtext: Object.entries(v.tags || {}).map(([k, x]) => k + '=' + x).join(' ') }));
  const cols = [
    { key: 'name', title: 'VM', cell: vmLink }, { key: 'host', title: 'Host', cell: (r) => hostLink(r.host) },
    { key: 'tenant', title: 'Tenant' }, { key: 'project', title: 'Project' }, { key: 'state', title: 'State' },
    { key: 'tagtext', title: 'Tags' }, { key: 'vcpus', title: 'vCPUs', num: true },
    { key: 'cpu_alloc_pct', title: 'CPU avg', num: true, cell: (r) => fmt.pct(r.cpu_alloc_pct) },
    { key: 'cpu_alloc_max_pct', title: 'CPU max', num: true, cell: (r) => fmt.pct(r.cpu_alloc_max_pct) },
    { key: 'spark', title: 'CPU', sort: false, cell: (r) => spark(r.spark) },
  ];
  const match = (r) => Object.entries(filters).every(([k, f]) => !f || String(k === 'tag' ? r.tagtext : r[k] || '').toLowerCase().includes(f.toLowerCase()));
  const t = table(cols, rows, { sort: 'name', limit: () => topN || rows.length });
  const refill = () => t.refill(rows.filter(match));
  const inputs = Object.keys(filters).map((k) => {
    const id = 'filter-' + k;
    return [el('label', { for: id }, k), el('input', { id, type: 'search', size: 10, oninput: (e) => { filters[k] = e.target.value; refill(); } })];
  });
  const rangeSel = el('select', { id: 'vm-range', onchange: (e) => { sessionStorage.setItem('vmeter.range', e.target.value); vmList(); } },
    ['-1h', '-24h', '-7d', '-30d'].map((r) => el('option', { value: r, selected: r === range }, 'last ' + r.slice(1))));
  const topSel = el('select', { id: 'vm-top', onchange: (e) => {
    topN = Number(e.target.value);
    if (topN) t.sortBy('cpu_alloc_pct', true);
    refill();
  } }, [0, 5, 10, 20].map((n) => el('option', { value: n }, n ? 'top ' + n + ' by CPU' : 'all')));
  view('VMs', el('div', { class: 'toolbar' }, el('label', { for: 'vm-range' }, 'Range'), rangeSel,
    el('label', { for: 'vm-top' }, 'Show'), topSel, inputs), t);
}

// ------------------------------------------------------------ graphs

const RANGES = ['-1h', '-24h', '-7d', '-30d'];

// The graphs of one page: a shared time range and consolidation.
function graphPanel(base, specs) {
  const st = { from: sessionStorage.getItem('vmeter.graph') || '-1h', to: 'now', cf: 'AVERAGE', live: false };
  const box = el('div', { class: 'graphs' });
  const status = el('p', { class: 'muted', 'aria-live': 'polite', id: 'graph-status' });
  const buttons = RANGES.map((r) => el('button', { type: 'button', 'data-range': r, onclick: () => { st.from = r; st.to = 'now'; sessionStorage.setItem('vmeter.graph', r); load(); } }, r.slice(1)));
  const cfButtons = ['AVERAGE', 'MAX'].map((cf) => el('button', { type: 'button', 'data-cf': cf, onclick: () => { st.cf = cf; load(); } }, cf));
  const live = el('input', { type: 'checkbox', id: 'live', onchange: (e) => { st.live = e.target.checked; schedule(); } });
  const bar = el('div', { class: 'toolbar', role: 'group', 'aria-label': 'time range' }, 'Range:', buttons, ' ', cfButtons,
    el('label', { for: 'live' }, live, ' live refresh'), el('span', { class: 'muted' }, 'drag across a graph to zoom'));

  function schedule() {
    clearTimeout(S.timer);
    if (st.live && st.to === 'now') S.timer = setTimeout(load, 30000);
  }

  async function load() {
    for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.range === st.from && st.to === 'now'));
    for (const b of cfButtons) b.setAttribute('aria-pressed', String(b.dataset.cf === st.cf));
    status.textContent = 'loading…';
    const q = '?from=' + encodeURIComponent(st.from) + '&to=' + encodeURIComponent(st.to) + '&cf=' + st.cf;
    let d;
    try { d = await api(base + q); } catch (e) { status.textContent = e.message; return; }
    stopGraphs();
    box.replaceChildren();
    const t = d.t;
    for (const sp of specs) {
      const names = sp.series === 'net_class' ? Object.keys(d.series).filter((k) => k.includes(':')) : sp.series.filter((k) => k in d.series);
      if (!names.length) continue;
      const title = sp.title + ' — ' + d.subject.name;
      const div = el('div', { class: 'graph', 'data-graph': sp.id }, el('h3', {}, title));
      box.append(div);
      const opts = {
        title: '', width: Math.max(560, Math.min(900, box.clientWidth / 2 - 20)), height: 220,
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: true } },
        axes: [{}, { values: (u, vals) => vals.map((v) => sp.fmt(v)), size: 90 }],
        series: [{}, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], value: (u, v) => v === null ? '–' : sp.fmt(v) }))],
        hooks: { setSelect: [(u) => {
          if (u.select.width < 5) return;
          const a = Math.floor(u.posToVal(u.select.left, 'x')), b = Math.ceil(u.posToVal(u.select.left + u.select.width, 'x'));
          if (b > a) { st.from = String(a); st.to = String(b); load(); }
        }] },
      };
      const g = new uPlot(opts, [t, ...names.map((n) => d.series[n])], div);
      g.vmeter = { id: sp.id, from: d.from, to: d.to, step: d.step, source: d.source, cf: d.cf, points: t.length };
      div.dataset.points = String(t.length);
      div.dataset.from = String(d.from);
      div.dataset.to = String(d.to);
      div.dataset.cf = d.cf;
      S.graphs.push(g);
    }
    status.textContent = t.length + ' points from ' + (d.source === 'rrd' ? 'the RRD files' : 'the rollups') + ', every ' + d.step + ' s, ' + d.cf + ', ' +
      new Date(d.from * 1000).toISOString().slice(0, 16) + ' to ' + new Date(d.to * 1000).toISOString().slice(0, 16) + ' UTC';
    box.dataset.loaded = String(Date.now());
    schedule();
  }
  const panel = el('section', { 'aria-label': 'graphs' }, el('h2', {}, 'Graphs'), bar, status, box);
  panel.load = load;
  return panel;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const pctf = (v) => v === null ? '' : v.toFixed(0) + ' %';
const kibf = (v) => v === null ? '' : bytes(v * 1024);
const bpsf = (v) => v === null ? '' : bytes(v) + '/s';
const opsf = (v) => v === null ? '' : v.toFixed(0) + '/s';

function stopGraphs() {
  clearTimeout(S.timer);
  for (const g of S.graphs) g.destroy();
  S.graphs = [];
}

// ------------------------------------------------------------ VM and host pages

async function vmPage(uuid) {
  const [vm, hist] = await Promise.all([api('/api/v1/vms/' + uuid), api('/api/v1/vms/' + uuid + '/history')]);
  const panel = graphPanel('/api/v1/vms/' + uuid + '/series', [
    { id: 'cpu', title: 'CPU', series: ['cpu_alloc_pct', 'cpu_host_pct', 'cpu_delay_pct'], fmt: pctf },
    { id: 'mem', title: 'Memory', series: ['mem_alloc_kib', 'mem_used_kib', 'mem_rss_kib'], fmt: kibf },
    { id: 'disk', title: 'Disk bytes', series: ['disk_rd_bps', 'disk_wr_bps'], fmt: bpsf },
    { id: 'iops', title: 'Disk operations', series: ['disk_rd_iops', 'disk_wr_iops'], fmt: opsf },
    { id: 'net', title: 'Network', series: ['net_rx_bps', 'net_tx_bps'], fmt: bpsf },
    { id: 'traffic', title: 'Network by traffic class', series: 'net_class', fmt: bpsf },
  ]);
  view('VM ' + vm.name,
    el('dl', { class: 'inv' },
      el('dt', {}, 'UUID'), el('dd', {}, vm.uuid), el('dt', {}, 'State'), el('dd', {}, vm.state),
      el('dt', {}, 'Host'), el('dd', {}, hostLink(vm.host)), el('dt', {}, 'Tenant / project'), el('dd', {}, vm.tenant + ' / ' + vm.project),
      el('dt', {}, 'vCPUs'), el('dd', {}, String(vm.vcpus)), el('dt', {}, 'Memory'), el('dd', {}, fmt.kib(vm.memory_kib)),
      el('dt', {}, 'Tags'), el('dd', {}, JSON.stringify(vm.tags))),
    panel,
    el('h2', {}, 'Classes'),
    table([{ key: 'dimension', title: 'Dimension' }, { key: 'class', title: 'Class', cell: (r) => el('span', { class: r.firing ? 'firing' : null }, r.class) },
      { key: 'since', title: 'Since', cell: (r) => fmt.time(r.since) }], hist.classes),
    el('h2', {}, 'Inventory and owner history'),
    table([{ key: 'valid_from', title: 'From', cell: (r) => fmt.time(r.valid_from) }, { key: 'name', title: 'Name' },
      { key: 'host', title: 'Host' }, { key: 'tenant', title: 'Tenant' }, { key: 'project', title: 'Project' },
      { key: 'vcpus', title: 'vCPUs', num: true }, { key: 'memory_kib', title: 'Memory', num: true, cell: (r) => fmt.kib(r.memory_kib) }], hist.inventory),
    el('h2', {}, 'Lifecycle events'),
    table([{ key: 'at', title: 'At', cell: (r) => fmt.time(r.at) }, { key: 'event', title: 'Event' }], hist.events));
  await panel.load();
}

async function hostList() {
  const h = await api('/api/v1/hosts');
  view('Hosts', table([{ key: 'name', title: 'Host', cell: (r) => hostLink(r.name) }, { key: 'cpus', title: 'CPUs', num: true },
    { key: 'memory_kib', title: 'Memory', num: true, cell: (r) => fmt.kib(r.memory_kib) }, { key: 'cpu_model', title: 'CPU model' },
    { key: 'last_seen', title: 'Last seen', cell: (r) => fmt.time(r.last_seen) }], h.hosts, { sort: 'name' }));
}

async function hostPage(name) {
  const h = await api('/api/v1/hosts/' + encodeURIComponent(name));
  const panel = graphPanel('/api/v1/hosts/' + encodeURIComponent(name) + '/series', [
    { id: 'cpu', title: 'CPU', series: ['cpu_busy_pct', 'cpu_user_pct', 'cpu_system_pct', 'cpu_iowait_pct'], fmt: pctf },
    { id: 'mem', title: 'Memory', series: ['mem_total_kib', 'mem_used_kib', 'mem_vm_kib'], fmt: kibf },
    { id: 'vms', title: 'Running VMs and vCPUs', series: ['vms_running', 'vcpus_running'], fmt: (v) => v === null ? '' : v.toFixed(0) },
  ]);
  const inv = h.inventory || {}, f = h.figures || {};
  view('Host ' + h.name,
    el('dl', { class: 'inv' }, el('dt', {}, 'CPUs'), el('dd', {}, fmt.num(inv.cpus) + ' × ' + fmt.num(inv.mhz) + ' MHz, ' + (inv.cpu_model || '')),
      el('dt', {}, 'Memory'), el('dd', {}, fmt.kib(inv.memory_kib)), el('dt', {}, 'CPU busy / demand'), el('dd', {}, fmt.pct(f.cpu_busy_pct) + ' / ' + fmt.pct(f.cpu_demand_pct)),
      el('dt', {}, 'Memory committed'), el('dd', {}, fmt.pct(f.mem_ratio_pct)), el('dt', {}, 'Contention'), el('dd', {}, fmt.pct(f.delay_pct))),
    panel, el('h2', {}, 'VMs on it'),
    table([{ key: 'name', title: 'VM', cell: vmLink }, { key: 'tenant', title: 'Tenant' }, { key: 'state', title: 'State' },
      { key: 'vcpus', title: 'vCPUs', num: true }], h.vms, { sort: 'name' }));
  await panel.load();
}

// ------------------------------------------------------------ alerts

async function alertsPage() {
  const a = await api('/api/v1/alerts');
  view('Alerts',
    el('p', { class: 'muted' }, 'The aggregator\'s classes of each VM (size, contention, neighbour); firing ones first. Alert rules and their action audit trail appear here once the aggregator keeps them.'),
    el('h2', {}, 'Classes'),
    table([{ key: 'name', title: 'VM', cell: vmLink }, { key: 'tenant', title: 'Tenant' }, { key: 'dimension', title: 'Dimension' },
      { key: 'class', title: 'Class', cell: (r) => el('span', { class: r.firing ? 'firing' : null }, r.class) },
      { key: 'since', title: 'Since', cell: (r) => fmt.time(r.since) }], a.classes),
    el('h2', {}, 'Recent changes'),
    table([{ key: 'at', title: 'At', cell: (r) => fmt.time(r.at) }, { key: 'name', title: 'VM', cell: vmLink },
      { key: 'dimension', title: 'Dimension' }, { key: 'from', title: 'From' }, { key: 'to', title: 'To' }], a.changes));
}

// ------------------------------------------------------------ invoices, reports, plans

const downloads = (id) => el('span', {}, ['csv', 'json', 'pdf'].map((f) =>
  [el('a', { href: '/api/v1/invoices/' + id + '/download?format=' + f, download: '', 'data-format': f }, f.toUpperCase()), ' ']));

async function invoiceList() {
  const l = await api('/api/v1/invoices');
  view('Invoices', table([{ key: 'id', title: 'Id', num: true, cell: (r) => el('a', { href: '#/invoice/' + r.id }, String(r.id)) },
    { key: 'number', title: 'Number' }, { key: 'tenant', title: 'Tenant' }, { key: 'period', title: 'Month' },
    { key: 'kind', title: 'Kind' }, { key: 'state', title: 'State' },
    { key: 'total_nano', title: 'Total', num: true, cell: (r) => money(r.total_nano) + ' ' + r.currency },
    { key: 'dl', title: 'Download', sort: false, cell: (r) => downloads(r.id) }], l.invoices, { sort: 'period', desc: true }));
}

// billing's amounts are nano-units of the currency's major unit
function money(nano) {
  const n = BigInt(nano), neg = n < 0n, a = neg ? -n : n;
  const whole = a / 1000000000n, frac = (a % 1000000000n).toString().padStart(9, '0').replace(/0+$/, '');
  return (neg ? '-' : '') + whole.toString() + '.' + (frac.length < 2 ? frac.padEnd(2, '0') : frac);
}

async function invoicePage(id) {
  const v = await api('/api/v1/invoices/' + id);
  view('Invoice ' + (v.number || 'draft ' + v.id),
    el('dl', { class: 'inv' }, el('dt', {}, 'Tenant'), el('dd', {}, v.tenant), el('dt', {}, 'Month'), el('dd', {}, v.period),
      el('dt', {}, 'State'), el('dd', {}, v.kind + ', ' + v.state), el('dt', {}, 'Total'), el('dd', {}, money(v.total_nano) + ' ' + v.currency),
      el('dt', {}, 'Download'), el('dd', {}, downloads(v.id))),
    table([{ key: 'line', title: '#', num: true }, { key: 'kind', title: 'Kind' }, { key: 'project', title: 'Project' },
      { key: 'vm', title: 'VM' }, { key: 'meter', title: 'Meter' }, { key: 'qty', title: 'Quantity', num: true },
      { key: 'unit', title: 'Unit' }, { key: 'amount_nano', title: 'Amount', num: true, cell: (r) => money(r.amount_nano) },
      { key: 'plan', title: 'Plan' }], v.lines, { sort: 'line' }));
}

async function reportList() {
  const l = await api('/api/v1/reports');
  view('Reports', table([{ key: 'period', title: 'Month' }, { key: 'kind', title: 'Kind' },
    { key: 'tenant', title: 'Tenant', cell: (r) => r.tenant || 'the fleet' }, { key: 'format', title: 'Format' },
    { key: 'bytes', title: 'Size', num: true, cell: (r) => bytes(r.bytes) }, { key: 'made_at', title: 'Made', cell: (r) => fmt.time(r.made_at) },
    { key: 'id', title: 'Download', cell: (r) => el('a', { href: '/api/v1/reports/' + r.id + '/download', download: '' }, 'download') }],
  l.reports, { sort: 'period', desc: true }));
}

async function plansPage() {
  const p = await api('/api/v1/plans');
  view('Plans',
    el('h2', {}, 'Tenants'),
    table([{ key: 'tenant', title: 'Tenant' }, { key: 'currency', title: 'Currency' }, { key: 'time_zone', title: 'Time zone' },
      { key: 'showback', title: 'Showback', cell: (r) => r.showback ? 'yes' : 'no' }], p.tenants),
    el('h2', {}, 'Plan versions'),
    table([{ key: 'plan', title: 'Plan' }, { key: 'label', title: 'Version' }, { key: 'currency', title: 'Currency' },
      { key: 'description', title: 'Description' }, { key: 'first_loaded', title: 'Loaded', cell: (r) => fmt.time(r.first_loaded) }], p.plans),
    p.files.length ? el('h2', {}, 'Plan files') : null,
    p.files.map((f) => el('details', {}, el('summary', {}, f.file + ' (' + fmt.time(f.loaded_at) + ')'), el('pre', {}, f.body))));
}

// ------------------------------------------------------------ start

document.getElementById('login').addEventListener('submit', login);
document.getElementById('logout').addEventListener('click', logout);
window.addEventListener('hashchange', route);
start();
