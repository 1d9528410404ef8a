import { test, expect, type Page } from '@playwright/test';

// Every test fails on any console error or uncaught exception in the page.
let problems: string[] = [];
test.beforeEach(async ({ page }) => {
  problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
});
test.afterEach(() => {
  expect(problems, 'the page logged errors').toEqual([]);
});

/** Open the dashboard and wait until the WASM has hydrated it and the live stream is up. */
async function openLive(page: Page) {
  await page.goto('/');
  await expect(page.getByTestId('link-state')).toContainText('live');
}

async function outletState(request: import('@playwright/test').APIRequestContext, n: number) {
  const status = await (await request.get('/api/status')).json();
  return status.outlets.find((o: { number: number }) => o.number === n).state as string;
}

test('the server-rendered HTML already shows real values', async ({ request, browser }) => {
  const status = await (await request.get('/api/status')).json();
  const html = await (await request.get('/')).text();
  expect(html).toContain(status.identity.serial);
  expect(html).toContain('Server-1');
  expect(html).toMatch(/data-testid="voltage" class="big">1[0-9]{2}\.[0-9] V</);

  // And a browser without JavaScript sees them too.
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/');
  await expect(page.getByTestId('outlet-4')).toContainText('Server-1');
  await expect(page.getByTestId('outlet-4').getByTestId('power')).toHaveText(/^[1-9][0-9]* W$/);
  await expect(page.getByTestId('source-a').getByTestId('voltage')).toHaveText(/^1[0-9]{2}\.[0-9] V$/);
  await expect(page.getByTestId('demo-banner')).toBeVisible();
  await context.close();
});

test('after hydration live values change without a reload', async ({ page }) => {
  await openLive(page);
  await page.evaluate(() => { (window as unknown as { marker: number }).marker = 42; });
  const reading = async () =>
    `${await page.getByTestId('source-a').getByTestId('voltage').textContent()} | ${await page.getByTestId('total').textContent()}`;
  const first = await reading();
  await expect.poll(reading, { timeout: 20_000 }).not.toBe(first);
  expect(await page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(42);
});

test('the header shows the MQTT link in words', async ({ page }) => {
  await openLive(page);
  await expect(page.getByTestId('mqtt-state')).toContainText('MQTT: connected');
  await expect(page.getByTestId('mqtt-state')).toHaveAttribute('title', /\(embedded\)/);
});

test('switching an outlet off through the dashboard shows it off', async ({ page, request }) => {
  await openLive(page);
  const tile = page.getByTestId('outlet-3');
  await expect(tile.getByTestId('state')).toHaveText('● ON');
  await tile.getByRole('button', { name: 'Off', exact: true }).click();

  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText('Turn off outlet 3 “NAS”?');
  await expect(dialog).toContainText('will lose power');
  await dialog.getByTestId('confirm').click();

  await expect(dialog).toBeHidden();
  await expect(tile.getByTestId('state')).toHaveText('○ OFF');
  await expect(page.getByTestId('command-message')).toContainText('is off');
  await expect(page.getByTestId('command-message')).toContainText('confirmed by the PDU');
  expect(await outletState(request, 3)).toBe('off');

  await request.post('/api/outlets/3/command', { data: { action: 'on' } });
  await expect(tile.getByTestId('state')).toHaveText('● ON');
});

test('cancelling the confirmation switches nothing', async ({ page, request }) => {
  await openLive(page);
  await page.getByTestId('outlet-2').getByRole('button', { name: 'Off', exact: true }).click();
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText('Switch-24p');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  expect(await outletState(request, 2)).toBe('on');
});

test('a reboot shows pending, then the confirmed state', async ({ page }) => {
  await openLive(page);
  const tile = page.getByTestId('outlet-7');
  await tile.getByRole('button', { name: 'Reboot', exact: true }).click();
  await page.getByRole('alertdialog').getByTestId('confirm').click();
  await expect(tile.getByText('pending…')).toBeVisible();
  await expect(tile.getByTestId('state')).toHaveText('○ OFF');
  // The simulated PDU44001 turns the outlet back on after its 5 s reboot duration.
  await expect(tile.getByTestId('state')).toHaveText('● ON', { timeout: 20_000 });
  await expect(tile.getByText('pending…')).toBeHidden();
});

test('a rule is created in the editor, armed, edited, disabled and deleted', async ({ page, request }) => {
  await openLive(page);
  await page.getByTestId('new-rule').click();
  const form = page.getByTestId('rule-form');
  await form.getByTestId('rule-name').fill('shed-nas');
  await form.getByTestId('rule-outlet-3').check();
  // Validation as you type, before any submit: the shared validation names the field.
  await form.getByTestId('rule-threshold').fill('low');
  await expect(form.getByTestId('rule-error')).toContainText('threshold');
  await expect(form.getByTestId('rule-save')).toBeDisabled();
  await form.getByTestId('rule-threshold').fill('900');
  await expect(form.getByTestId('rule-error')).toContainText('0 to 500 V');
  await form.getByTestId('rule-threshold').fill('90');
  await expect(form.getByTestId('rule-error')).toBeEmpty();
  await form.getByTestId('rule-save').click();

  const row = page.getByTestId('rule-shed-nas');
  await expect(row.getByTestId('rule-state')).toHaveText('armed');
  await expect(row).toContainText('Source A voltage below 90 V for 5 s → turn off outlets 3');

  await row.getByRole('button', { name: 'Edit' }).click();
  await expect(form.getByTestId('rule-name')).toHaveValue('shed-nas');
  await form.getByTestId('rule-threshold').fill('95');
  await form.getByTestId('rule-save').click();
  await expect(row).toContainText('below 95 V');

  await row.getByRole('button', { name: 'Disable' }).click();
  await expect(row.getByTestId('rule-state')).toHaveText('disabled');
  await expect(row.getByRole('button', { name: 'Enable' })).toBeVisible();

  await row.getByRole('button', { name: 'Delete' }).click();
  await row.getByTestId('confirm-delete').click();
  await expect(row).toBeHidden();
  expect(await (await request.get('/api/rules')).json()).toEqual([]);
  await expect(page.getByTestId('events')).toContainText('rule deleted');
});

/** The number of buckets a chart drew, once it has drawn. */
async function chartPoints(page: Page, testid: string) {
  const plot = page.getByTestId(testid).locator('.plot');
  await expect(plot).toBeVisible();
  await expect(plot.locator('svg polyline').first()).toBeAttached();
  return Number(await plot.getAttribute('data-points'));
}

/** The bridge fills 7 days of simulated history at start (BRIDGE_DEMO_HISTORY_DAYS); wait for it. */
async function waitForHistory(request: import('@playwright/test').APIRequestContext) {
  await expect.poll(async () => {
    // The fill ends with the last two hours at 1 s: when the last hour is there, all is.
    const h = await (await request.get('/api/history/banks?range=1h')).json();
    return h.series?.[0]?.points?.length ?? 0;
  }, { timeout: 60_000 }).toBeGreaterThan(3000);
}

test('the history charts draw 1h and 7d, follow the range buttons and the back button', async ({ page, request }) => {
  await waitForHistory(request);
  await openLive(page);
  const history = page.locator('#history');
  await history.scrollIntoViewIfNeeded();
  await expect(history.getByRole('button', { name: '24h' })).toHaveAttribute('aria-pressed', 'true');

  await history.getByRole('button', { name: '1h' }).click();
  await expect(page).toHaveURL(/\?range=1h$/);
  await expect(history.getByRole('button', { name: '1h' })).toHaveAttribute('aria-pressed', 'true');
  // 1 s buckets over the last hour (the fill has 1 s steps there).
  await expect.poll(() => chartPoints(page, 'chart-power')).toBeGreaterThan(3 * 3000);
  const hourTicks = await page.getByTestId('chart-power').locator('svg text').allTextContents();
  expect(hourTicks.some((t) => /^\d\d:\d\d$/.test(t.trim())), hourTicks.join('|')).toBe(true);

  await history.getByRole('button', { name: '7d' }).click();
  await expect(page).toHaveURL(/\?range=7d$/);
  // 5-minute buckets: a week of them, one per series; ticks on local midnights.
  await expect.poll(() => chartPoints(page, 'chart-power')).toBeGreaterThan(3 * 1900);
  await expect.poll(async () => (await page.getByTestId('chart-power').locator('svg text').allTextContents())
    .some((t) => /^\d\d-\d\d$/.test(t.trim()))).toBe(true);
  for (const id of ['chart-current', 'chart-voltage', 'chart-outlets']) {
    expect(await chartPoints(page, id), id).toBeGreaterThan(1900);
  }
  // Source voltages are drawn as A and B, never as a sum of banks.
  await expect(page.getByTestId('chart-voltage').locator('.legend')).toHaveText(/Source A.*Source B/);

  // Hovering reads out the bucket under the pointer.
  const plot = page.getByTestId('chart-power').locator('.plot');
  const box = (await plot.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  await expect(page.getByTestId('readout')).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d · Total \d+\.\d W \(\d+\.\d–\d+\.\d\)/);

  // One outlet: its own line with a min/max band.
  await page.getByTestId('chart-outlets').getByLabel('Outlet').selectOption('4');
  await expect(page.getByTestId('chart-outlets').locator('.legend li')).toHaveCount(1);
  await expect(page.getByTestId('chart-outlets').locator('svg polygon').first()).toBeAttached();

  // The CSV link downloads the same range.
  const csv = page.getByTestId('chart-power').getByRole('link', { name: 'CSV' });
  await expect(csv).toHaveAttribute('href', /\/api\/history\/banks\.csv\?range=7d&device_id=pdu44001$/);
  const response = await page.request.get((await csv.getAttribute('href'))!);
  expect((await response.text()).split('\n')[0]).toBe('ts,metric,avg,min,max');

  // Back returns to the hour; a bookmark of the URL opens the same range.
  await page.goBack();
  await expect(page).toHaveURL(/\?range=1h$/);
  await expect(history.getByRole('button', { name: '1h' })).toHaveAttribute('aria-pressed', 'true');
  await expect.poll(() => chartPoints(page, 'chart-power')).toBeGreaterThan(3 * 3000);
  await page.goto('/?range=30d');
  await expect(page.locator('#history').getByRole('button', { name: '30d' })).toHaveAttribute('aria-pressed', 'true');
  await expect.poll(() => chartPoints(page, 'chart-power')).toBeGreaterThan(3 * 600);
});

test('a chart says when it is loading and when a range has no data', async ({ page }) => {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => { release = resolve; });
  await page.route('**/fn/history', async (route) => {
    await held;
    const body = { device_id: 'pdu44001', start: 0, end: 3600, bucket_s: 1, series: [] };
    await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
  });
  await openLive(page);
  await expect(page.getByTestId('chart-power').getByTestId('chart-loading')).toHaveText('Loading history…');
  release();
  await expect(page.getByTestId('chart-power').getByTestId('chart-empty')).toContainText('No data in this range yet');
  await expect(page.getByTestId('chart-voltage').getByTestId('chart-empty')).toBeVisible();
});

test('the energy panel shows today, week and month, and opens a weekly report', async ({ page, request }) => {
  await waitForHistory(request);
  await openLive(page);
  const energy = page.locator('#energy');
  await energy.scrollIntoViewIfNeeded();
  await expect(energy.getByTestId('energy-kpi')).toHaveCount(3);
  await expect(energy.getByTestId('energy-kpi').nth(2)).toContainText(/This month\s*[1-9][0-9]*\.[0-9]{2} kWh/);
  await expect(energy.locator('.energy-outlets tbody tr')).toHaveCount(10);
  const reports = (await (await request.get('/api/reports')).json()) as { id: string; title: string }[];
  expect(reports.length).toBeGreaterThan(0);
  const week = reports.find((r) => r.id.startsWith('week-'))!;
  await energy.getByRole('button', { name: week.title }).click();
  const view = page.getByTestId('report-view');
  await expect(view.locator('h3')).toHaveText(week.title);
  await expect(view.locator('tbody tr')).toHaveCount(7);
  const print = energy.getByRole('link', { name: 'Print' }).first();
  const html = await (await request.get((await print.getAttribute('href'))!)).text();
  expect(html).toContain('<h1>Energy report: Week');
});

test('screenshots of the dashboard on a laptop and a phone', async ({ page, request }) => {
  const rule = { name: 'brownout-shed', condition: 'voltage_below', input: 1, threshold: 108,
                 outlet: [5, 9], action: 'off', delay: 10, restore_delay: 30 };
  expect((await request.post('/api/rules', { data: rule })).status()).toBe(201);
  for (const [name, width, height] of [['desktop', 1440, 900], ['phone', 390, 844]] as const) {
    await page.setViewportSize({ width, height });
    await openLive(page);
    await expect(page.getByTestId('transfer-diagram')).toBeVisible();
    await expect(page.getByTestId('rule-brownout-shed').getByTestId('rule-state')).toHaveText('armed');
    await expect(page.getByTestId('chart-power').locator('svg polyline').first()).toBeAttached();
    await expect(page.getByTestId('energy-kpi').first()).toBeVisible();
    await page.screenshot({ path: `../docs/screenshots/dashboard-${name}.png`, fullPage: true });
  }
});

test('the event list narrows to a kind and pages back through older events', async ({ page, request }) => {
  // 60 commands from the API: more than one page of outlet commands.
  for (let i = 0; i < 30; i++) {
    await request.post('/api/outlets/8/command', { data: { action: 'off' } });
    await request.post('/api/outlets/8/command', { data: { action: 'on' } });
  }
  await openLive(page);
  const events = page.getByTestId('events');
  await expect(events.locator('li').first()).toContainText('(from api)');

  await page.getByTestId('event-kind').selectOption('outlet_command');
  await expect(events.locator('li')).toHaveCount(50);
  const kinds = await events.locator('.event-kind').allTextContents();
  expect(new Set(kinds)).toEqual(new Set(['outlet command']));

  await page.getByTestId('older-events').click();
  await expect.poll(() => events.locator('li').count()).toBeGreaterThanOrEqual(60);
  const texts = await events.locator('.event-text').allTextContents();
  expect(new Set(texts).size, 'no event shown twice').toBeGreaterThan(1);
  const ids = await page.evaluate(async () => {
    const r = await fetch('/api/events?kind=outlet_command&limit=1000');
    return (await r.json()).length as number;
  });
  expect(await events.locator('li').count()).toBeLessThanOrEqual(ids);

  await page.getByTestId('event-kind').selectOption('ats_transfer');
  await expect(events.locator('li')).toHaveCount(0);
  await expect(page.getByText('Nothing has happened yet.')).toBeVisible();
});

test('time until the outlet buttons respond after navigation', async ({ page }) => {
  // Clicks before the WASM has hydrated the page are lost; measure how long
  // after navigation a click on an outlet button first opens its dialog.
  const start = Date.now();
  await page.goto('/', { waitUntil: 'commit' });
  const off = page.getByTestId('outlet-2').getByRole('button', { name: 'Off', exact: true });
  const dialog = page.getByRole('alertdialog');
  let responded = 0;
  for (let i = 0; i < 400 && !responded; i++) {
    await off.click({ timeout: 5_000 });
    if (await dialog.isVisible()) responded = Date.now() - start;
    else await page.waitForTimeout(25);
  }
  expect(responded, 'the buttons respond').toBeGreaterThan(0);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  console.log(`time until the outlet buttons respond after navigation: ${responded} ms`);
  test.info().annotations.push({ type: 'interactive-ms', description: String(responded) });
});
