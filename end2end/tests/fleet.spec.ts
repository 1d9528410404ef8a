// Several PDUs on one bridge: the fleet page (every PDU with its state,
// sortable, with and without the WASM; the A/B rack), each PDU's dashboard
// at its own address, the switcher between them, and the back button. One
// bridge of its own with three simulated PDUs from pdus.json, two of them
// the A and B feeds of one rack.
import { test, expect, type Page } from '@playwright/test';
import { writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Bridge, bin, expectAccessible, freeTcpPort, freeUdpPort, openLive, signIn, BRIDGE_ADMIN_PASSWORD } from './helpers';

const PDUS = {
  pdus: [
    { device_id: 'rack1-a', simulated: true, label: 'Rack 1 A', rack: 'rack1', feed: 'A' },
    { device_id: 'rack1-b', simulated: true, label: 'Rack 1 B', rack: 'rack1', feed: 'B' },
    { device_id: 'lab', simulated: true, label: 'Lab' },
  ],
};
const IDS = ['rack1-a', 'rack1-b', 'lab'];

let bridge: Bridge;
test.beforeAll(async () => {
  bridge = new Bridge(await freeTcpPort(), {});
  writeFileSync(join(bridge.dataDir, 'pdus.json'), JSON.stringify(PDUS));
  await bridge.start();
});
test.afterAll(async () => {
  await bridge?.stop();
});

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

/** The device ids of the fleet table's rows, top to bottom. */
async function rowOrder(page: Page) {
  const ids = await page.getByTestId('fleet-table').locator('tbody tr').evaluateAll((rows) =>
    rows.map((r) => (r.getAttribute('data-testid') ?? '').replace(/^fleet-row-/, '')),
  );
  return ids;
}

/** The power column as numbers, top to bottom (NaN for a dash). */
async function powers(page: Page) {
  const cells = await page.getByTestId('fleet-table').locator('tbody td[data-col="power"]').allTextContents();
  return cells.map((t) => parseFloat(t));
}

test('the fleet page lists every PDU with its state, the totals and the A/B rack', async ({ page }) => {
  await openLive(page, `${bridge.url}/fleet`);
  await expect(page).toHaveTitle('Fleet · pdu-bridge');
  const table = page.getByTestId('fleet-table');
  for (const id of IDS) {
    await expect(table.getByTestId(`fleet-row-${id}`).getByTestId('fleet-state-cell')).toHaveText(/online/, { timeout: 20_000 });
  }
  await expect(table.getByTestId('fleet-row-lab').getByTestId('fleet-link')).toHaveText('Lab');
  // Every cell sits under its own header.
  const columns = await table.locator('thead th').evaluateAll((ths) => ths.map((th) => th.getAttribute('data-col')));
  const cells = await table.getByTestId('fleet-row-lab').locator('th, td').evaluateAll((tds) => tds.map((td) => td.getAttribute('data-col')));
  expect(cells).toEqual(columns);
  await expect(table.locator('thead th')).toHaveText(['PDU', 'State', 'Power', 'Load of rating', 'Alarms', 'Active source', 'Input voltage', 'Last reading'].map((t) => new RegExp(`^${t}`)));
  await expect(table.getByTestId('fleet-row-lab').locator('[data-col="power"]')).toHaveText(/^\d+ W$/);
  await expect(table.getByTestId('fleet-row-lab').locator('[data-col="source"]')).toHaveText(/^(A|B)$/);
  await expect(page.getByTestId('fleet-state')).toContainText('PDUs: 3 of 3 online');
  await expect(page.getByTestId('fleet-online')).toHaveText('3 of 3');
  await expect(page.getByTestId('fleet-power')).toHaveText(/^\d+ W$/);

  const rack = page.getByTestId('rack-rack1');
  await expect(rack.getByTestId('rack-load')).toContainText(/Combined load: \d+\.\d A, \d+ W/);
  await expect(rack.getByTestId('rack-feed')).toHaveCount(2);
  await expect(rack.getByTestId('rack-feed').first()).toContainText('Feed A (Rack 1 A)');
  await expect(rack.getByTestId('rack-feed').last()).toContainText('Feed B (Rack 1 B)');
  await expect(rack.getByTestId('rack-feed').first()).toContainText(/could (not )?carry the rack alone/);

  // Live: the readings change without a reload.
  const first = await page.getByTestId('fleet-power').textContent();
  await expect.poll(() => page.getByTestId('fleet-power').textContent(), { timeout: 20_000 }).not.toBe(first);
  await expectAccessible(page, 'the fleet page');
});

test('the fleet table sorts by a column, and keeps the order in the address', async ({ page }) => {
  await openLive(page, `${bridge.url}/fleet`);
  await expect(page.getByTestId('fleet-row-lab').getByTestId('fleet-state-cell')).toHaveText(/online/, { timeout: 20_000 });
  expect(await rowOrder(page)).toEqual(['lab', 'rack1-a', 'rack1-b']);
  const label = page.locator('th[data-col="label"]').first();
  await expect(label).toHaveAttribute('aria-sort', 'ascending');

  await page.getByTestId('sort-label').click();
  await expect(label).toHaveAttribute('aria-sort', 'descending');
  expect(await rowOrder(page)).toEqual(['rack1-b', 'rack1-a', 'lab']);
  await expect(page).toHaveURL(/\/fleet\?sort=label&dir=desc$/);

  const power = page.locator('th[data-col="power"]');
  await page.getByTestId('sort-power').click();
  await expect(power).toHaveAttribute('aria-sort', 'descending');
  await expect(label).not.toHaveAttribute('aria-sort', /./);
  const down = await powers(page);
  expect(down).toEqual([...down].sort((a, b) => b - a));
  await page.getByTestId('sort-power').click();
  await expect(power).toHaveAttribute('aria-sort', 'ascending');
  await expect(page).toHaveURL(/\/fleet\?sort=power&dir=asc$/);

  // A reload keeps the order: the server renders it from the address.
  await page.reload();
  await expect(page.locator('th[data-col="power"]')).toHaveAttribute('aria-sort', 'ascending');
});

test('a PDU has its own address, and the back button returns to the fleet', async ({ page }) => {
  await openLive(page, `${bridge.url}/fleet`);
  await page.getByTestId('fleet-row-rack1-b').getByRole('link', { name: 'Rack 1 B', exact: true }).click();
  await expect(page).toHaveURL(`${bridge.url}/pdu/rack1-b`);
  await expect(page.getByTestId('link-state')).toContainText('live');
  await expect(page.locator('.brand-pdu')).toHaveText('Rack 1 B');
  await expect(page).toHaveTitle('Rack 1 B · pdu-bridge');
  await expect(page.getByTestId('switch-rack1-b')).toHaveAttribute('aria-current', 'page');
  await expect(page.getByTestId('outlet-1')).toBeVisible();
  await expectAccessible(page, 'a PDU of several at its own address');

  await page.goBack();
  await expect(page).toHaveURL(`${bridge.url}/fleet`);
  await expect(page.getByTestId('fleet-table')).toBeVisible();
  await expect(page.getByTestId('switch-fleet')).toHaveAttribute('aria-current', 'page');
});

test('the switcher moves between the PDUs and the fleet', async ({ page }) => {
  await openLive(page, `${bridge.url}/`);
  // The first PDU at `/`, as with a single PDU.
  const switcher = page.getByTestId('pdu-switcher');
  await expect(switcher.getByRole('link')).toHaveText(['Fleet', 'Rack 1 A', 'Rack 1 B', 'Lab']);
  await expect(page.locator('.brand-pdu')).toHaveText('Rack 1 A');
  await expect(page.getByTestId('switch-rack1-a')).toHaveAttribute('aria-current', 'page');

  await switcher.getByRole('link', { name: 'Lab' }).click();
  await expect(page).toHaveURL(`${bridge.url}/pdu/lab`);
  await expect(page.locator('.brand-pdu')).toHaveText('Lab');
  await expect(page.getByTestId('switch-lab')).toHaveAttribute('aria-current', 'page');
  await expect(page.getByTestId('switch-rack1-a')).not.toHaveAttribute('aria-current', /./);

  await page.getByTestId('pdu-switcher').getByRole('link', { name: 'Fleet' }).click();
  await expect(page).toHaveURL(`${bridge.url}/fleet`);
  await page.goBack();
  await expect(page).toHaveURL(`${bridge.url}/pdu/lab`);
  await expect(page.locator('.brand-pdu')).toHaveText('Lab');
});

test('an address naming no PDU says so and leads to the fleet', async ({ page }) => {
  await openLive(page, `${bridge.url}/pdu/nope`);
  const card = page.getByTestId('no-such-pdu');
  await expect(card).toContainText('No PDU with id “nope”');
  await expect(page).toHaveTitle('No such PDU · pdu-bridge');
  await expect(page.getByTestId('pdu-switcher').locator('[aria-current]')).toHaveCount(0);
  await expectAccessible(page, 'an unknown PDU');
  await card.getByRole('link', { name: 'See every PDU in the fleet' }).click();
  await expect(page).toHaveURL(`${bridge.url}/fleet`);
});

test('a PDU added or removed appears and goes without a reload', async ({ page }) => {
  await openLive(page, `${bridge.url}/fleet`);
  await page.evaluate(() => { (window as unknown as { marker: number }).marker = 7; });
  const added = await page.request.post(`${bridge.url}/api/pdus`, {
    data: { device_id: 'spare', simulated: true, label: 'Spare' },
  });
  expect(added.status()).toBe(201);
  try {
    const row = page.getByTestId('fleet-row-spare');
    await expect(row.getByTestId('fleet-link')).toHaveText('Spare');
    await expect(row.getByTestId('fleet-state-cell')).toHaveText(/online/, { timeout: 20_000 });
    await expect(page.getByTestId('fleet-online')).toHaveText('4 of 4');
    expect(await page.evaluate(() => (window as unknown as { marker: number }).marker), 'no reload').toBe(7);
    await page.getByTestId('pdu-switcher').getByRole('link', { name: 'Spare' }).click();
    await expect(page).toHaveURL(`${bridge.url}/pdu/spare`);
    await expect(page.getByTestId('link-state')).toContainText('live');
    await expect(page.locator('.brand-pdu')).toHaveText('Spare');
  } finally {
    expect((await page.request.delete(`${bridge.url}/api/pdus/spare`)).status()).toBe(204);
  }
  // The page on screen showed the removed PDU: it says it is gone.
  await expect(page.getByTestId('no-such-pdu')).toContainText('No PDU with id “spare”');
  await expect(page.getByTestId('pdu-switcher').getByRole('link')).toHaveText(['Fleet', 'Rack 1 A', 'Rack 1 B', 'Lab']);
});

test('a PDU that does not answer is named in words, and not counted in the totals', async ({ page }) => {
  await openLive(page, `${bridge.url}/fleet`);
  const port = await freeUdpPort();
  const added = await page.request.post(`${bridge.url}/api/pdus`, {
    data: { device_id: 'silent', host: '127.0.0.1', snmp_port: port, timeout: 0.4, retries: 0, label: 'Silent', rack: 'rack2', feed: 'A' },
  });
  expect(added.status()).toBe(201);
  try {
    const state = page.getByTestId('fleet-row-silent').getByTestId('fleet-state-cell');
    await expect(state).toContainText(/no data|unreachable/);
    await expect(page.getByTestId('fleet-row-silent').locator('[data-col="age"]')).toHaveText('never');
    await expect(page.getByTestId('fleet-state')).toContainText('PDUs: 3 of 4 online');
    await expect(page.getByTestId('fleet-online')).toHaveText('3 of 4');
    await expect(page.getByTestId('rack-rack2').getByTestId('rack-load')).toContainText('no current reading from Silent');
    // Sorted by state, the silent PDU comes first.
    await page.getByTestId('sort-state').click();
    expect((await rowOrder(page))[0]).toBe('silent');
    await expectAccessible(page, 'the fleet with a silent PDU');
  } finally {
    expect((await page.request.delete(`${bridge.url}/api/pdus/silent`)).status()).toBe(204);
  }
  await expect(page.getByTestId('fleet-row-silent')).toHaveCount(0);
  await expect(page.getByTestId('rack-rack2')).toHaveCount(0);
});

test('an admin discovers PDUs on a network and adds one', async ({ page }) => {
  // Two simulated PDUs as SNMP agents on 127.64.0.2 and .3, one port.
  const port = await freeUdpPort();
  const agents: ChildProcess[] = ['127.64.0.2', '127.64.0.3'].map((address, i) =>
    spawn(bin, ['simulate', '--bind', address, '--port', String(port), '--seed', String(31 + i)], { stdio: 'ignore' }),
  );
  try {
    // On a phone: the results stay inside the page.
    await page.setViewportSize({ width: 390, height: 844 });
    await openLive(page, `${bridge.url}/fleet`);
    const manage = page.locator('#manage-pdus');
    await expect(manage.getByRole('heading', { name: 'Manage PDUs' })).toBeVisible();
    await manage.getByTestId('discover-cidr').fill('127.64.0.0/29');
    await manage.getByTestId('discover-port').fill(String(port));
    await expect(async () => {
      await manage.getByTestId('discover-run').click();
      await expect(manage.getByTestId('discover-summary')).toHaveText('2 CyberPower PDU(s) found among 6 addresses.', { timeout: 5_000 });
    }).toPass({ timeout: 30_000 });
    const results = manage.getByTestId('discover-results');
    await expect(results.locator('tbody tr')).toHaveCount(2);
    await expect(results).toContainText('PDU44001');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, 'no sideways scroll of the page').toBeLessThanOrEqual(0);
    await results.getByRole('button', { name: `Add 127.64.0.2:${port}` }).click();
    const form = manage.getByTestId('pdu-form');
    await expect(form.getByTestId('pdu-id')).toBeFocused();
    await expect(form.getByTestId('pdu-id')).toHaveValue(/^pdu-sim/);
    await expect(form.getByTestId('pdu-host')).toHaveValue('127.64.0.2');
    await expect(form.getByTestId('pdu-port')).toHaveValue(String(port));
    await form.getByTestId('pdu-id').fill('lab');
    await form.getByTestId('pdu-save').click();
    await expect(manage.getByTestId('pdu-form-said')).toContainText('exists already');
    // The refusal arrives as 409 Conflict, which the browser logs; expected here.
    problems = problems.filter((p) => !p.includes('status of 409'));
    await form.getByTestId('pdu-id').fill('found-one');
    await form.getByTestId('pdu-label').fill('Found one');
    await form.getByTestId('pdu-save').click();
    await expect(manage.getByTestId('pdu-form-said')).toContainText('PDU “found-one” added; polling started.');
    const row = page.getByTestId('fleet-row-found-one');
    await expect(row.getByTestId('fleet-state-cell')).toHaveText(/online/, { timeout: 20_000 });
    await expect(manage.getByTestId('pdu-row-found-one')).toContainText('127.64.0.2');
    // Scanned again, it is known by the id it was added as.
    await manage.getByTestId('discover-run').click();
    await expect(manage.getByTestId('discover-results')).toContainText('watched as found-one');
    await expectAccessible(page, 'the fleet page with discovery results');
    // Removed from the same panel, after a question that names it.
    await manage.getByRole('button', { name: 'Remove found-one' }).click();
    const dialog = page.getByTestId('pdu-remove-dialog');
    await expect(dialog).toContainText('Remove PDU “found-one”?');
    await dialog.getByRole('button', { name: 'Remove “found-one”' }).click();
    await expect(page.getByTestId('fleet-row-found-one')).toHaveCount(0);
  } finally {
    await page.request.delete(`${bridge.url}/api/pdus/found-one`);
    agents.forEach((a) => a.kill());
  }
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the fleet page shows every PDU and sorts by the address', async ({ page }) => {
    await page.goto(`${bridge.url}/fleet?sort=label&dir=desc`);
    if (new URL(page.url()).pathname === '/login') await signIn(page, 'admin', BRIDGE_ADMIN_PASSWORD);
    await expect(page).toHaveURL(/\/fleet\?sort=label&dir=desc$/);
    expect(await rowOrder(page)).toEqual(['rack1-b', 'rack1-a', 'lab']);
    await expect(page.locator('th[data-col="label"]').first()).toHaveAttribute('aria-sort', 'descending');
    // The header's button is a form: it sorts the other way round.
    await page.getByTestId('sort-label').click();
    await expect(page).toHaveURL(/\/fleet\?sort=label&dir=asc$/);
    expect(await rowOrder(page)).toEqual(['lab', 'rack1-a', 'rack1-b']);
    await page.getByTestId('fleet-row-lab').getByRole('link', { name: 'Lab', exact: true }).click();
    await expect(page).toHaveURL(`${bridge.url}/pdu/lab`);
    await expect(page.locator('.brand-pdu')).toHaveText('Lab');
  });
});
