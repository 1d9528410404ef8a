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

test('screenshots of the dashboard on a laptop and a phone', async ({ page, request }) => {
  const rule = { name: 'brownout-shed', condition: 'voltage_below', input: 1, threshold: 108,
                 outlet: [5, 9], action: 'off', delay: 10, restore_delay: 30 };
  expect((await request.post('/api/rules', { data: rule })).status()).toBe(201);
  for (const [name, width, height] of [['desktop', 1440, 900], ['phone', 390, 844]] as const) {
    await page.setViewportSize({ width, height });
    await openLive(page);
    await expect(page.getByTestId('transfer-diagram')).toBeVisible();
    await expect(page.getByTestId('rule-brownout-shed').getByTestId('rule-state')).toHaveText('armed');
    await page.screenshot({ path: `../docs/screenshots/dashboard-${name}.png`, fullPage: true });
  }
});
