// vmeter-web's pages in Debian's headless chromium, driven by playwright-core
// (run by tests/integration/web-browser.sh, which starts the server with its
// fixtures, tests/integration/web-fixtures.sh).  Prints one line per check,
// "RESULT<TAB>0|1<TAB>description", for the shell to report as TAP; waits for
// states (selectors, the graphs' data), never for times.
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const E = process.env;
const URL = E.WEB_URL, ART = E.ARTEFACTS, DL = E.DOWNLOADS;
const results = [];
function result(good, desc, detail) {
  console.log('RESULT\t' + (good ? 0 : 1) + '\t' + desc + (good || !detail ? '' : ' (' + String(detail).replace(/\s+/g, ' ').slice(0, 300) + ')'));
  results.push(good);
}
async function check(desc, fn) {
  try {
    const r = await fn();
    result(r !== false, desc, r === false ? 'false' : '');
  } catch (e) {
    result(false, desc, e.message);
  }
}

// The first graph's numbers: its data range and points.
const graphState = () => {
  const g = window.vmeter.graphs[0];
  if (!g) return null;
  const nonNull = g.data.slice(1).reduce((n, s) => n + s.filter((v) => v !== null && v !== undefined).length, 0);
  return Object.assign({}, g.vmeter, { len: g.data[0].length, nonNull, series: g.series.length - 1,
    canvas: !!document.querySelector('.graph canvas') });
};

async function login(page, user, password) {
  await page.goto(URL + '/');
  await page.locator('#login-user').fill(user);
  await page.locator('#login-password').fill(password);
  await page.locator('#login button[type=submit]').click();
  await page.locator('#nav').waitFor({ state: 'visible' });
  await page.locator('h1', { hasText: 'Overview' }).waitFor();
}

(async () => {
  const browser = await chromium.launch({ executablePath: E.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 1000 } });
  const page = await ctx.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/401|404|Failed to load resource/.test(m.text())) problems.push('console: ' + m.text());
  });

  // ---- admin: log in, overview
  await check('the admin logs in through the login form and lands on the overview', () => login(page, 'root', E.ADMIN_PW));
  await check('the overview\'s heat map names each host\'s dominant resource (hv1: memory 94 %)', async () => {
    await page.locator('.heat .cell').first().waitFor();
    const cells = await page.locator('.heat .cell').allInnerTexts();
    return cells.length === 2 && /hv1[\s\S]*memory 94\.0 %/.test(cells[0]) && /hv2[\s\S]*cpu 61\.0 %/.test(cells[1]) || cells.join(' | ');
  });
  await check('the overview shows the firing classes and this month\'s cost (drafts)', async () => {
    const text = await page.locator('#view').innerText();
    return /oversized/.test(text) && /starved/.test(text) && /5\.67 EUR/.test(text) && /8\.9 EUR/.test(text) || text.slice(0, 400);
  });
  await page.screenshot({ path: path.join(ART, 'web-overview.png'), fullPage: true });

  // ---- a VM's page: graphs
  await check('a VM opens from the overview, titled with its name', async () => {
    await page.locator('#view table a', { hasText: /^web1$/ }).first().click();
    await page.locator('h1', { hasText: 'VM web1' }).waitFor();
    return (await page.title()).startsWith('VM web1');
  });
  let before;
  await check('its CPU graph draws: a canvas with points of the RRD files (last hour)', async () => {
    await page.waitForFunction(() => window.vmeter.graphs.length > 0 && window.vmeter.graphs[0].data[0].length > 1);
    before = await page.evaluate(graphState);
    return before.canvas && before.source === 'rrd' && before.len > 100 && before.nonNull > 50 && before.to - before.from === 3600 || JSON.stringify(before);
  });
  await check('the graphs\' titles say the VM\'s name', async () => {
    const titles = await page.locator('.graph h3').allInnerTexts();
    return titles.length >= 4 && titles.every((t) => t.endsWith('web1')) || titles.join(' | ');
  });
  await page.screenshot({ path: path.join(ART, 'web-vm.png'), fullPage: true });
  await check('the time picker\'s 24h changes the graph\'s data range', async () => {
    await page.locator('button[data-range="-24h"]').click();
    await page.waitForFunction((from) => window.vmeter.graphs[0] && window.vmeter.graphs[0].vmeter.from !== from, before.from);
    const s = await page.evaluate(graphState);
    return s.to - s.from === 86400 && s.step >= 60 && s.len !== before.len || JSON.stringify(s);
  });
  await check('MAX asks for the maxima (cf=MAX in the answer)', async () => {
    await page.locator('button[data-cf="MAX"]').click();
    await page.waitForFunction(() => window.vmeter.graphs[0] && window.vmeter.graphs[0].vmeter.cf === 'MAX');
    return (await page.locator('button[data-cf="MAX"]').getAttribute('aria-pressed')) === 'true';
  });
  await check('7 days come from the rollups, hourly, and draw', async () => {
    await page.locator('button[data-cf="AVERAGE"]').click();
    await page.locator('button[data-range="-7d"]').click();
    await page.waitForFunction(() => window.vmeter.graphs[0] && window.vmeter.graphs[0].vmeter.source === 'rollup' && window.vmeter.graphs[0].vmeter.cf === 'AVERAGE');
    const s = await page.evaluate(graphState);
    return s.step === 3600 && s.len >= 168 && s.nonNull > 60 || JSON.stringify(s);
  });
  await check('dragging across a graph zooms into that span', async () => {
    const s0 = await page.evaluate(graphState);
    const over = page.locator('.graph[data-graph="cpu"] .u-over');
    const b = await over.boundingBox();
    await page.mouse.move(b.x + b.width * 0.5, b.y + b.height / 2);
    await page.mouse.down();
    await page.mouse.move(b.x + b.width * 0.7, b.y + b.height / 2, { steps: 8 });
    await page.mouse.up();
    await page.waitForFunction((from) => window.vmeter.graphs[0] && window.vmeter.graphs[0].vmeter.from > from, s0.from);
    const s = await page.evaluate(graphState);
    return s.to - s.from < (s0.to - s0.from) / 3 || JSON.stringify(s);
  });
  await page.screenshot({ path: path.join(ART, 'web-vm-7d-zoom.png'), fullPage: true });

  // ---- VM list
  await check('the VM list shows every VM with a sparkline, and filters by tenant', async () => {
    await page.goto(URL + '/#/vms');
    await page.locator('h1', { hasText: 'VMs' }).waitFor();
    await page.locator('canvas.spark').first().waitFor();
    const n = await page.locator('canvas.spark').count();
    await page.locator('#filter-tenant').fill('beta');
    await page.waitForFunction(() => document.querySelectorAll('#view tbody tr').length === 1);
    const row = await page.locator('#view tbody tr').innerText();
    await page.locator('#filter-tenant').fill('');
    return n === 3 && /db1/.test(row) || n + ' ' + row;
  });
  await check('top 5 by CPU sorts the busiest first', async () => {
    await page.locator('#vm-top').selectOption('5');
    const first = await page.locator('#view tbody tr').first().innerText();
    return /db1/.test(first) || first;
  });
  await page.screenshot({ path: path.join(ART, 'web-vms.png'), fullPage: true });

  // ---- alerts, host, plans, reports
  await check('the alerts page lists the classes, firing first', async () => {
    await page.goto(URL + '/#/alerts');
    await page.locator('h1', { hasText: 'Alerts' }).waitFor();
    const rows = await page.locator('#view table').first().locator('tbody tr').allInnerTexts();
    return rows.length === 3 && /starved|oversized/.test(rows[0]) && /right-sized/.test(rows[2]) || rows.join(' | ');
  });
  await check('a host\'s page draws its graphs (from the rollups: it has no RRD file)', async () => {
    await page.goto(URL + '/#/host/hv1');
    await page.locator('h1', { hasText: 'Host hv1' }).waitFor();
    await page.waitForFunction(() => window.vmeter.graphs.length > 0 && window.vmeter.graphs[0].data[0].length > 0);
    const s = await page.evaluate(graphState);
    return s.source === 'rollup' && s.nonNull > 0 || JSON.stringify(s);
  });
  await check('the reports page lists the kept reports, the plans page the plan versions', async () => {
    await page.goto(URL + '/#/reports');
    await page.locator('h1', { hasText: 'Reports' }).waitFor();
    const n = await page.locator('#view tbody tr').count();
    await page.goto(URL + '/#/plans');
    await page.locator('h1', { hasText: 'Plans' }).waitFor();
    const text = await page.locator('#view').innerText();
    return n === 3 && /standard/.test(text) && /bulk/.test(text) || n + ' ' + text.slice(0, 200);
  });

  // ---- an invoice: view and download
  for (const [fmt, want] of [['csv', /^invoice,status,tenant,period[\s\S]*INV-201,final,acme,[\s\S]*web1/], ['json', /"number": "INV-201"/], ['pdf', /^%PDF-/]]) {
    await check('the invoice downloads as ' + fmt.toUpperCase() + ' with its content', async () => {
      await page.goto(URL + '/#/invoice/201');
      await page.locator('h1', { hasText: 'Invoice INV-201' }).waitFor();
      const [dl] = await Promise.all([page.waitForEvent('download'), page.locator('#view dd a[data-format="' + fmt + '"]').click()]);
      const file = path.join(DL, dl.suggestedFilename());
      await dl.saveAs(file);
      const body = fs.readFileSync(file, fmt === 'pdf' ? 'latin1' : 'utf8');
      return dl.suggestedFilename() === 'vmeter-invoice-INV-201.' + fmt && want.test(body) || dl.suggestedFilename() + ': ' + body.slice(0, 120);
    });
  }
  await page.screenshot({ path: path.join(ART, 'web-invoice.png'), fullPage: true });
  await check('logging out returns to the login form', async () => {
    await page.locator('#logout').click();
    await page.locator('#login-view').waitFor({ state: 'visible' });
    return true;
  });

  // ---- a tenant viewer: only its own
  await check('a tenant viewer (acme) logs in; it gets no Hosts link and no heat map', async () => {
    await login(page, 'va', E.VIEWER_PW);
    return !(await page.locator('nav a[href="#/hosts"]').isVisible()) && (await page.locator('.heat').count()) === 0;
  });
  await check('... its VM list holds acme\'s VMs only', async () => {
    await page.goto(URL + '/#/vms');
    await page.locator('canvas.spark').first().waitFor();
    const text = await page.locator('#view tbody').innerText();
    return /web1/.test(text) && /web2/.test(text) && !/db1/.test(text) && !/beta/.test(text) || text;
  });
  await check('... and beta\'s VM, opened by its address, is not found', async () => {
    await page.goto(URL + '/#/vm/' + E.U_DB1);
    await page.locator('h1', { hasText: 'Error' }).waitFor();
    const text = await page.locator('#view').innerText();
    return /no such object/.test(text) && !/db1/.test(text) || text;
  });
  await check('... nor does anything beta\'s appear on its overview, alerts or reports', async () => {
    let all = '';
    for (const [hash, h1] of [['#/', 'Overview'], ['#/alerts', 'Alerts'], ['#/reports', 'Reports'], ['#/invoices', 'Invoices']]) {
      await page.goto(URL + '/' + hash);
      await page.locator('h1', { hasText: h1 }).waitFor();
      await page.waitForLoadState('networkidle');
      all += await page.locator('#view').innerText();
    }
    return !/db1|beta|starved|8\.9 EUR/.test(all) && /web1/.test(all) || all.slice(0, 300);
  });
  await page.screenshot({ path: path.join(ART, 'web-viewer.png'), fullPage: true });
  result(problems.length === 0, 'no script errors and no Content-Security-Policy refusals in the pages', problems.join('; '));
  await browser.close();
})().catch((e) => { result(false, 'the browser run', e.stack || e.message); process.exit(1); });
