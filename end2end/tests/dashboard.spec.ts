import { test, expect, type Page } from '@playwright/test';
import { chartPoints, expectAccessible, failOnPageErrors } from './helpers';

// Every test fails on any console error or uncaught exception in the page.
failOnPageErrors();

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
  await tile.getByRole('button', { name: 'Switch off outlet 3 NAS' }).click();

  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText('Turn off outlet 3 “NAS”?');
  await expect(dialog).toContainText('will lose power');
  await expectAccessible(page, 'the confirmation dialog');
  await dialog.getByTestId('confirm').click();

  await expect(dialog).toBeHidden();
  await expect(tile.getByTestId('state')).toHaveText('○ OFF');
  await expect(page.getByTestId('command-message')).toContainText('Outlet 3 “NAS” is off.');
  await expect(page.getByTestId('command-message')).toContainText('Confirmed by the PDU');
  expect(await outletState(request, 3)).toBe('off');

  await request.post('/api/outlets/3/command', { data: { action: 'on' } });
  await expect(tile.getByTestId('state')).toHaveText('● ON');
});

test('cancelling the confirmation switches nothing', async ({ page, request }) => {
  await openLive(page);
  await page.getByTestId('outlet-2').getByRole('button', { name: 'Switch off outlet 2 Switch-24p' }).click();
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText('Switch-24p');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  expect(await outletState(request, 2)).toBe('on');
});

test('a reboot shows pending, then the confirmed state', async ({ page }) => {
  await openLive(page);
  const tile = page.getByTestId('outlet-7');
  await tile.getByRole('button', { name: 'Reboot outlet 7 Modem' }).click();
  await page.getByRole('alertdialog').getByTestId('confirm').click();
  await expect(tile.getByText('pending…')).toBeVisible();
  await expect(tile.getByTestId('state')).toHaveText('○ OFF');
  await expect(page.getByTestId('command-message')).toContainText('comes back on by itself');
  // The simulated PDU44001 turns the outlet back on after its 5 s reboot duration.
  await expect(tile.getByTestId('state')).toHaveText('● ON', { timeout: 20_000 });
  await expect(tile.getByText('pending…')).toBeHidden();
  // The message follows: no "pending" left once the reboot is over.
  await expect(page.getByTestId('command-message')).toContainText('Outlet 7 “Modem” has rebooted and is on again.');
});

test('a rule is created in the editor, armed, edited, disabled and deleted', async ({ page, request }) => {
  await openLive(page);
  await page.getByTestId('new-rule').click();
  const form = page.getByTestId('rule-form');
  // Nothing typed yet: nothing is wrong yet.
  await expect(form.getByTestId('rule-error')).toBeEmpty();
  await expectAccessible(page, 'the rule editor');
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
  const confirm = page.getByTestId('rule-delete-dialog');
  await expect(confirm).toContainText('Delete rule “shed-nas”?');
  await confirm.getByTestId('confirm').click();
  await expect(row).toBeHidden();
  await expect(page.getByTestId('rule-message')).toHaveText('Rule “shed-nas” deleted.');
  expect(await (await request.get('/api/rules')).json()).toEqual([]);
  await expect(page.getByTestId('events')).toContainText('rule deleted');
});

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
  await plot.scrollIntoViewIfNeeded();
  const box = (await plot.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  await expect(page.getByTestId('readout')).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d · Total \d+\.\d W \(\d+\.\d–\d+\.\d\)/);

  // One outlet: its own line with a min/max band, and the choice in the URL.
  await page.getByTestId('chart-outlets').getByRole('combobox', { name: 'Outlet' }).selectOption('4');
  await expect(page.getByTestId('chart-outlets').locator('.legend li')).toHaveCount(1);
  await expect(page.getByTestId('chart-outlets').locator('svg polygon').first()).toBeAttached();
  await expect(page).toHaveURL(/\?range=7d&outlet=4$/);
  await page.goBack();
  await expect(page).toHaveURL(/\?range=7d$/);

  // Without the WASM, the CSV link is the server's CSV of the same range.
  const csv = page.getByTestId('chart-power').getByRole('link', { name: /CSV/ });
  await expect(csv).toHaveAttribute('href', /\/api\/history\/banks\.csv\?range=7d&device_id=pdu44001$/);
  const response = await page.request.get((await csv.getAttribute('href'))!);
  expect((await response.text()).split('\n')[0]).toBe('time,metric,unit,avg,min,max');

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
  const print = energy.getByRole('link', { name: /^Print page/ }).first();
  const html = await (await request.get((await print.getAttribute('href'))!)).text();
  expect(html).toContain('<h1>Energy report: Week');
  await expect(energy.getByRole('link', { name: /as JSON$/ }).first()).toHaveAttribute('download', /^pdu44001-week-\d{4}-\d\d-\d\d\.json$/);
  await expect(view.getByRole('button', { name: 'Print' })).toBeVisible();
  await expectAccessible(page, 'a weekly report opened');
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
  const off = page.getByTestId('outlet-2').getByRole('button', { name: 'Switch off outlet 2 Switch-24p' });
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

test('the dashboard has no axe-core violations, light and dark, on a laptop and a phone', async ({ page }) => {
  await openLive(page);
  await expect(page.getByTestId('chart-power').locator('.plot, [data-testid="chart-empty"]').first()).toBeVisible();
  await expectAccessible(page, 'the dashboard on a laptop');
  await page.getByTestId('chart-power').getByRole('button', { name: 'Show as a table' }).click();
  await expect(page.getByTestId('chart-power').getByTestId('chart-table')).toBeVisible();
  await expectAccessible(page, 'a chart as a table');
  await page.setViewportSize({ width: 390, height: 844 });
  await expectAccessible(page, 'the dashboard on a phone');
});

test('on a phone every control is at least 44 px each way', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await openLive(page);
  await page.getByTestId('new-rule').click();
  await expect(page.getByTestId('rule-form')).toBeVisible();
  const small = await page.evaluate(() => {
    const out: string[] = [];
    for (const el of document.querySelectorAll<HTMLElement>('button, a[href], select, input, summary, textarea')) {
      const target = (el instanceof HTMLInputElement && (el.type === 'checkbox' || el.type === 'radio'))
        ? el.closest('label') ?? el : el;
      if (el instanceof HTMLInputElement && el.type === 'hidden') continue;
      const r = target.getBoundingClientRect();
      const style = getComputedStyle(target);
      if (r.width === 0 || r.height === 0 || style.visibility === 'hidden' || r.bottom < 0) continue;
      if (el.closest('dialog:not([open])')) continue;
      if (r.width < 44 || r.height < 44) {
        out.push(`${el.tagName.toLowerCase()} "${(el.getAttribute('aria-label') ?? el.textContent ?? '').trim().slice(0, 40)}" ${Math.round(r.width)}×${Math.round(r.height)}`);
      }
    }
    return out;
  });
  expect(small, 'tap targets under 44 px').toEqual([]);
});

test('switching an outlet and writing a rule work with the keyboard alone', async ({ page, request }) => {
  await openLive(page);
  // The skip link is the first stop and lands on the dashboard.
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Skip to the dashboard' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('main')).toBeFocused();

  const tabTo = async (name: string | RegExp, limit = 120) => {
    for (let i = 0; i < limit; i++) {
      await page.keyboard.press('Tab');
      const label = await page.evaluate(() => {
        const el = document.activeElement as HTMLElement | null;
        return el ? (el.getAttribute('aria-label') ?? el.textContent ?? '').trim() : '';
      });
      if (typeof name === 'string' ? label === name : name.test(label)) return;
    }
    throw new Error(`${name} not reached with Tab`);
  };
  await tabTo('Switch off outlet 6 Firewall');
  const off = page.getByRole('button', { name: 'Switch off outlet 6 Firewall' });
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText('Turn off outlet 6 “Firewall”?');
  // The safe choice has focus, and focus stays in the dialog.
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press('Tab');
    expect(await dialog.evaluate((d) => d.contains(document.activeElement) || document.activeElement === document.body)).toBe(true);
  }
  // Escape cancels and gives focus back to the button that opened it.
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(off).toBeFocused();
  expect(await outletState(request, 6)).toBe('on');

  await page.keyboard.press('Enter');
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(dialog.getByTestId('confirm')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('outlet-6').getByTestId('state')).toHaveText('○ OFF');
  await expect(off).toBeFocused();
  expect(await outletState(request, 6)).toBe('off');
  await request.post('/api/outlets/6/command', { data: { action: 'on' } });

  // A rule, from "New rule" to saved, without the mouse.
  await tabTo('New rule', 400);
  await page.keyboard.press('Enter');
  const form = page.getByTestId('rule-form');
  await page.keyboard.press('Tab');
  await expect(form.getByTestId('rule-name')).toBeFocused();
  await page.keyboard.type('kb-rule');
  await page.keyboard.press('Tab'); // condition
  await page.keyboard.press('Tab'); // watch
  await page.keyboard.press('Tab'); // threshold
  await expect(form.getByTestId('rule-threshold')).toBeFocused();
  await page.keyboard.press('Control+A');
  await page.keyboard.type('95');
  for (let i = 0; i < 40 && !(await form.getByTestId('rule-outlet-8').evaluate((e) => e === document.activeElement)); i++) {
    await page.keyboard.press('Tab');
  }
  await page.keyboard.press('Space');
  await expect(form.getByTestId('rule-outlet-8')).toBeChecked();
  await tabTo('Save rule');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('rule-kb-rule')).toContainText('Source A voltage below 95 V');
  expect((await request.delete('/api/rules/kb-rule')).status()).toBeLessThan(300);
});

test('a click right after navigation is not lost, even on a slow CPU', async ({ page, request }) => {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 6 });
  await page.goto('/', { waitUntil: 'commit' });
  // The very first click, whether or not the WASM has hydrated the page yet.
  await page.getByTestId('outlet-2').getByRole('button', { name: 'Switch off outlet 2 Switch-24p' }).click();
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText('Turn off outlet 2 “Switch-24p”?', { timeout: 30_000 });
  expect(await outletState(request, 2)).toBe('on');
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
  // Confirming switches it, whichever page (server's or hydrated) asked.
  await dialog.getByRole('button', { name: /Turn off/ }).click();
  await expect(page.getByTestId('outlet-2').getByTestId('state')).toHaveText('○ OFF');
  await expect(page.getByTestId('command-message')).toContainText('Outlet 2 “Switch-24p” is off.');
  expect(await outletState(request, 2)).toBe('off');
  await request.post('/api/outlets/2/command', { data: { action: 'on' } });
});

test('without JavaScript, outlet and rule forms work through the server', async ({ browser, request }) => {
  const rule = { name: 'nojs-rule', condition: 'redundancy_lost', threshold: 0, outlet: [9], action: 'off' };
  expect((await request.post('/api/rules', { data: rule })).status()).toBe(201);
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/');
  await page.getByTestId('outlet-9').getByRole('button', { name: 'Switch off outlet 9 Fan-Tray' }).click();
  const ask = page.getByTestId('server-confirm');
  await expect(ask).toContainText('Turn off outlet 9 “Fan-Tray”?');
  expect(await outletState(request, 9)).toBe('on');
  await ask.getByRole('button', { name: /Turn off/ }).click();
  await expect(page.getByTestId('command-message')).toContainText('Outlet 9 “Fan-Tray” is off.');
  expect(await outletState(request, 9)).toBe('off');
  await request.post('/api/outlets/9/command', { data: { action: 'on' } });

  const row = page.getByTestId('rule-nojs-rule');
  await row.getByRole('button', { name: 'Disable rule nojs-rule' }).click();
  await expect(page.getByTestId('rule-message')).toHaveText('Rule “nojs-rule” disabled.');
  await page.getByTestId('rule-nojs-rule').getByRole('button', { name: 'Delete rule nojs-rule' }).click();
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(page.getByTestId('rule-message')).toHaveText('Rule “nojs-rule” deleted.');
  const left = (await (await request.get('/api/rules')).json()) as { name: string }[];
  expect(left.map((r) => r.name)).not.toContain('nojs-rule');

  // A form posted from another site is refused.
  const forged = await request.post('/forms/outlet', {
    form: { o: '9', action: 'off', confirmed: '1' },
    headers: { Origin: 'http://evil.example', 'Sec-Fetch-Site': 'cross-site' },
    maxRedirects: 0,
  });
  // Refused before it reaches the form (403), or by the form (a redirect saying so).
  expect(forged.status() === 403 || /failed=outlet&code=403/.test(forged.headers().location ?? ''), `${forged.status()}`).toBe(true);
  expect(await outletState(request, 9)).toBe('on');
  await context.close();
});

test('the CSV of one outlet holds that outlet only, with ISO times, named after device, series and range', async ({ page, request }) => {
  await waitForHistory(request);
  await page.goto('/?range=6h&outlet=4');
  await expect(page.getByTestId('link-state')).toContainText('live');
  const chart = page.getByTestId('chart-outlets');
  await expect(chart.getByRole('combobox', { name: 'Outlet' })).toHaveValue('4');
  await expect(chart.locator('.legend li')).toHaveCount(1);
  await expect(chart.locator('svg polyline').first()).toBeAttached();
  await expect(chart.getByRole('link', { name: /CSV/ })).toHaveAttribute('href', /outlet=4/);
  const [download] = await Promise.all([page.waitForEvent('download'), chart.getByRole('link', { name: /CSV/ }).click()]);
  expect(download.suggestedFilename()).toBe('pdu44001-outlet-4-power-6h.csv');
  const text = await (await import('node:fs')).promises.readFile((await download.path())!, 'utf8');
  const rows = text.trim().split('\n');
  expect(rows[0]).toBe('time,metric,unit,avg,min,max');
  expect(rows.length).toBeGreaterThan(100);
  for (const row of rows.slice(1)) {
    expect(row).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d),outlet\.4\.power,W,[0-9.]+,[0-9.]+,[0-9.]+$/);
  }
  // The same buckets the API has for that outlet.
  const api = await (await request.get('/api/history/outlets?range=6h&outlet=4')).json();
  const points = api.series.find((s: { metric: string }) => s.metric === 'outlet.4.power').points.length;
  expect(Math.abs(rows.length - 1 - points)).toBeLessThanOrEqual(60);
});

test('a report in the dashboard has every number of the energy API, its cost included', async ({ page, request }) => {
  await waitForHistory(request);
  const reports = (await (await request.get('/api/reports')).json()) as { id: string; title: string }[];
  const week = reports.find((r) => r.id.startsWith('week-'))!;
  const api = await (await request.get(`/api/reports/${week.id}`)).json();
  await openLive(page);
  await page.locator('#energy').getByRole('button', { name: week.title }).click();
  const view = page.getByTestId('report-view');
  await expect(view.getByTestId('report-kwh')).toHaveText(`${api.totals.kwh.toFixed(2)} kWh`);
  const rows = view.locator('tbody tr');
  await expect(rows).toHaveCount(api.days.length);
  for (let i = 0; i < api.days.length; i++) {
    const day = api.days[i];
    const cells = await rows.nth(i).locator('th, td').allTextContents();
    expect(cells[0]).toBe(day.date);
    expect(cells[1]).toBe(day.totals.kwh.toFixed(2));
    expect(cells[2]).toBe((day.totals.sources.a ?? 0).toFixed(2));
    expect(cells[3]).toBe((day.totals.sources.b ?? 0).toFixed(2));
    // A price is set for these tests: every day has its cost.
    expect(cells[6]).toBe((day.totals.cost ?? 0).toFixed(2));
  }
  await expect(view.getByTestId('report-cost')).toContainText(`${(api.totals.cost ?? 0).toFixed(2)} EUR`);
  // And the report's days are the energy API's days.
  const daily = (await (await request.get('/api/energy/daily?days=30')).json()) as { date: string; totals: { kwh: number } }[];
  for (const day of api.days) {
    const same = daily.find((d) => d.date === day.date);
    expect(same, `day ${day.date} in /api/energy/daily`).toBeTruthy();
    expect(same!.totals.kwh.toFixed(2), day.date).toBe(day.totals.kwh.toFixed(2));
  }
});

test('a custom range, typed in local time, is in the URL and in the CSV name', async ({ page, request }) => {
  await waitForHistory(request);
  await openLive(page);
  const history = page.locator('#history');
  await history.scrollIntoViewIfNeeded();
  await history.getByRole('button', { name: 'Custom…' }).click();
  const form = page.getByTestId('custom-range');
  // Two days ago to one day ago, typed as local date and time.
  const local = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}T${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  const from = new Date(Date.now() - 2 * 86_400_000);
  const to = new Date(Date.now() - 86_400_000);
  await form.getByLabel('From').fill(local(from));
  await form.getByLabel('To').fill(local(to));
  await form.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/\?start=\d+&end=\d+$/);
  await expect(history.getByRole('button', { name: 'Custom…' })).toHaveAttribute('aria-pressed', 'true');
  await expect.poll(() => chartPoints(page, 'chart-power')).toBeGreaterThan(3 * 600);
  await expect(page.getByTestId('chart-power').getByRole('link', { name: /CSV/ })).toHaveAttribute('download', /^pdu44001-power-\d{8}T\d{4}-to-\d{8}T\d{4}\.csv$/);
  await expectAccessible(page, 'a custom range');
});

test.describe('without JavaScript, the rule editor', () => {
  test.use({ javaScriptEnabled: false });

  test('creates a rule through the server, says which field is wrong, and edits it', async ({ page, request }) => {
    await page.goto('/#rules');
    await page.getByTestId('new-rule').click();
    await expect(page).toHaveURL(/[?&]editor=new/);
    const form = page.getByTestId('rule-form');
    await form.getByTestId('rule-name').fill('No script shed');
    await form.getByTestId('rule-outlet-6').check();
    await form.getByTestId('rule-threshold').fill('900');
    await form.getByTestId('rule-save').click();
    // Refused by the server: the editor again, with what was typed and the field named.
    await expect(form.getByTestId('rule-error')).toContainText('threshold: a voltage from 0 to 500 V');
    await expect(form.getByTestId('rule-name')).toHaveValue('No script shed');
    await expect(form.getByTestId('rule-outlet-6')).toBeChecked();
    let names = ((await (await request.get('/api/rules')).json()) as { name: string }[]).map((r) => r.name);
    expect(names).not.toContain('No script shed');
    await form.getByTestId('rule-threshold').fill('92');
    await form.getByTestId('rule-save').click();
    await expect(page.getByTestId('rule-message')).toHaveText('Rule “No script shed” created.');
    const row = page.getByTestId('rule-No script shed');
    await expect(row).toContainText('Source A voltage below 92 V for 5 s → turn off outlets 6');

    await row.getByRole('button', { name: 'Edit rule No script shed' }).click();
    await expect(form.getByTestId('rule-name')).toHaveValue('No script shed');
    await expect(form.getByTestId('rule-threshold')).toHaveValue('92');
    await form.getByTestId('rule-threshold').fill('94');
    await form.getByTestId('rule-save').click();
    await expect(page.getByTestId('rule-message')).toHaveText('Rule “No script shed” updated.');
    await expect(page.getByTestId('rule-No script shed')).toContainText('below 94 V');
    names = ((await (await request.get('/api/rules')).json()) as { name: string }[]).map((r) => r.name);
    expect(names.filter((n) => n === 'No script shed')).toHaveLength(1);
    expect((await request.delete('/api/rules/No%20script%20shed')).ok()).toBe(true);
  });
});
