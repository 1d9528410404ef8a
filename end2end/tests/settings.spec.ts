// Names and settings as a person meets them in the browser: renaming an
// outlet in its tile (in the bridge only, and on the PDU too), a PDU's
// settings page (server-rendered with the values, admins' forms checked as
// they type, what the PDU read back after a Save), every outlet at once
// with its confirmation, and what a viewer and an operator may not do.
// One bridge of its own: the simulated PDU with outlet 3 protected, and a
// viewer and an operator besides the admin.
import { test, expect, type Browser, type Page } from '@playwright/test';
import { Bridge, expectAccessible, failOnPageErrors, openLive } from './helpers';
import { addUser, signIn } from './access-helpers';

const VIEWER = { name: 'vera', password: 'viewer-pass-e2e-2' };
const OPERATOR = { name: 'otto', password: 'operator-pass-e2e-2' };
const DEVICE = 'pdu44001';
const PROTECTED = 3;

let bridge: Bridge;
test.beforeAll(async () => {
  bridge = await Bridge.start({ BRIDGE_PROTECTED_OUTLETS: String(PROTECTED) });
  addUser(bridge, VIEWER.name, 'viewer', VIEWER.password);
  addUser(bridge, OPERATOR.name, 'operator', OPERATOR.password);
});
test.afterAll(async () => {
  await bridge?.stop();
});

// Every test fails on any console error or uncaught exception in the page.
const watch = failOnPageErrors();

const settingsUrl = () => `${bridge.url}/pdu/${DEVICE}/settings`;

/** A page of its own, signed in as `who`. */
async function signedIn(browser: Browser, who: { name: string; password: string }): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  watch(page);
  await signIn(page, bridge.url, who.name, who.password);
  return page;
}

/** The settings page, once the bridge has read the PDU's settings (it does at start). */
async function openSettings(page: Page) {
  await expect(async () => {
    await openLive(page, settingsUrl());
    await expect(page.getByTestId('settings-read')).toContainText(/Read from the PDU .* ago\./, { timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
}

test('an outlet is renamed in its tile: in the bridge only, on the PDU too, and back to the PDU’s name', async ({ page }) => {
  // Writing to the PDU needs its settings read (which outlets it has).
  await openSettings(page);
  await openLive(page, `${bridge.url}/`);
  const tile = page.getByTestId('outlet-4');
  const heading = tile.getByRole('heading');
  await expect(heading).not.toHaveText('');

  // In the bridge only: Enter saves.
  await tile.getByRole('button', { name: /^Rename outlet 4 / }).click();
  const input = tile.getByTestId('rename-input');
  await expect(input).toBeFocused();
  await input.fill('Backup NAS – rack 2');
  await input.press('Enter');
  await expect(heading).toHaveText('Outlet 4: Backup NAS – rack 2');
  await expect(page.getByTestId('command-message')).toContainText('Outlet 4 is now “Backup NAS – rack 2” (in the bridge');
  await expect(tile.getByRole('button', { name: 'Rename outlet 4 Backup NAS – rack 2' })).toBeFocused();

  // On the PDU: what it cannot store is refused as it is typed.
  await tile.getByTestId('rename').click();
  await tile.getByLabel('Also store on the PDU (max 31 characters, ASCII)').check();
  await expect(tile.getByTestId('rename-problem')).toContainText('printable ASCII');
  await expect(tile.getByTestId('rename-save')).toBeDisabled();
  await tile.getByTestId('rename-input').fill('x'.repeat(32));
  await expect(tile.getByTestId('rename-problem')).toHaveText('The PDU stores at most 31 characters; this name has 32.');
  await expect(tile.getByTestId('rename-input')).toHaveAttribute('aria-invalid', 'true');
  await tile.getByTestId('rename-input').fill('Core-SW');
  await expect(tile.getByTestId('rename-problem')).toHaveText('');
  await tile.getByTestId('rename-save').click();
  await expect(heading).toHaveText('Outlet 4: Core-SW');
  await expect(page.getByTestId('command-message')).toContainText('the PDU reads back “Core-SW”');

  // Escape cancels and changes nothing.
  await tile.getByTestId('rename').click();
  await tile.getByTestId('rename-input').fill('Not this');
  await tile.getByTestId('rename-input').press('Escape');
  await expect(tile.getByTestId('rename-form')).toHaveCount(0);
  await expect(heading).toHaveText('Outlet 4: Core-SW');

  // The settings page shows the name on the PDU beside the bridge's.
  await openSettings(page);
  const row = page.getByTestId('outlet-settings-4');
  await expect(row.locator('[data-col="pdu-name"]')).toHaveText('Core-SW');
  await expect(row.locator('[data-col="bridge-name"]')).toHaveText('Core-SW');

  // Empty: the outlet shows the name stored on the PDU again.
  await openLive(page, `${bridge.url}/`);
  await tile.getByTestId('rename').click();
  await expect(tile.getByText('Empty: the name stored on the PDU shows again.')).toBeVisible();
  await tile.getByTestId('rename-input').fill('Bridge only');
  await tile.getByTestId('rename-input').press('Enter');
  await expect(heading).toHaveText('Outlet 4: Bridge only');
  await tile.getByTestId('rename').click();
  await tile.getByTestId('rename-input').fill('');
  await tile.getByTestId('rename-input').press('Enter');
  await expect(heading).toHaveText('Outlet 4: Core-SW');
  await expect(page.getByTestId('command-message')).toContainText('shows the name stored on the PDU again');
});

test('the settings page is server-rendered with the values and admins change them, read back from the PDU', async ({ page }) => {
  await openSettings(page);
  await expect(page).toHaveTitle(/^Settings · .* · pdu-bridge$/);
  // Before any WASM: the server's HTML has the values in words.
  const html = await (await page.request.get(settingsUrl())).text();
  expect(html).toContain('Read from the PDU');
  expect(html).toMatch(/data-testid="set-coldstart-delay-value"[^>]*>(at once|never|\d+ s)</);
  expect(html).toContain('data-testid="outlet-settings-10"');
  await expect(page.getByTestId('set-preferred-value')).toHaveText(/^Source [AB]$/);
  await expect(page.getByTestId('thresholds').locator('tbody tr').first()).toContainText(/\d+ A/);

  // Power-up: an out-of-range value is refused as it is typed.
  const powerUp = page.getByTestId('settings-power-up');
  await powerUp.getByRole('button', { name: 'Edit when power comes back' }).click();
  const delay = powerUp.getByLabel('Coldstart delay (s)');
  await delay.fill('301');
  await expect(powerUp.locator('#set-coldstart_delay-error')).toHaveText('301 is out of range: -1 (never), 0 (at once) or 1 to 300 seconds');
  await expect(delay).toHaveAttribute('aria-invalid', 'true');
  await expect(powerUp.getByTestId('power-up-save')).toBeDisabled();
  const before = (await page.request.get(`${bridge.url}/api/config`).then((r) => r.json())).coldstart_delay;
  const wanted = before === 15 ? 16 : 15;
  await delay.fill(String(wanted));
  await expect(powerUp.locator('#set-coldstart_delay-error')).toHaveText('');
  await powerUp.screenshot({ path: 'test-results/settings-form.png' });
  await expectAccessible(page, 'the settings page with a form open');
  await powerUp.getByTestId('power-up-save').click();
  await expect(powerUp.getByTestId('power-up-said')).toContainText(`coldstart delay: ${before} → ${wanted}`);
  await expect(page.getByTestId('set-coldstart-delay-value')).toHaveText(`${wanted} s`);
  await expect(powerUp.getByRole('button', { name: 'Edit when power comes back' })).toBeFocused();

  // An outlet's reboot duration, in the outlets' form.
  const outlets = page.getByTestId('settings-outlet-settings');
  await outlets.getByRole('button', { name: 'Edit outlets' }).click();
  const reboot = outlets.getByTestId('set-outlet-2-reboot_duration');
  await reboot.fill('4');
  await expect(outlets.locator('#set-outlet-2-reboot_duration-error')).toHaveText('4 is out of range: 5 to 60 seconds');
  await reboot.fill('23');
  await outlets.screenshot({ path: 'test-results/settings-outlets-form.png' });
  await outlets.getByTestId('outlet-settings-save').click();
  await expect(outlets.getByTestId('outlet-settings-said')).toContainText(/outlet 2 reboot duration: \d+ → 23/);
  await expect(page.getByTestId('outlet-settings-2').locator('[data-col="reboot"]')).toHaveText('23 s');
  const config = await page.request.get(`${bridge.url}/api/config`).then((r) => r.json());
  expect(config.coldstart_delay).toBe(wanted);
  expect(config.outlets[1].reboot_duration).toBe(23);
  await expectAccessible(page, 'the settings page after a save');
});

test('every outlet at once: an operator may not turn them off past a protected outlet; an admin confirms it', async ({ page, browser }) => {
  const operator = await signedIn(browser, OPERATOR);
  await operator.goto(settingsUrl());
  await expect(operator.getByTestId('link-state')).toContainText('live');
  const box = operator.getByTestId('every-outlet');
  await expect(box.getByRole('button', { name: 'Turn all off (each after its delay)' })).toBeDisabled();
  await expect(box.locator('#every-outlet-protected')).toContainText(`protected outlets (${PROTECTED} “`);
  await expect(box.getByRole('button', { name: 'Turn all on (each after its delay)' })).toBeEnabled();
  await expect(operator.getByRole('button', { name: /^Edit / })).toHaveCount(0);
  await expect(operator.getByTestId('settings-role')).toContainText('Admins change these settings.');
  await operator.context().close();

  await openSettings(page);
  const mine = page.getByTestId('every-outlet');
  await mine.getByRole('button', { name: 'Turn all off (each after its delay)' }).click();
  const dialog = page.getByTestId('every-outlet-dialog');
  await expect(dialog).toContainText('Turn off every outlet of');
  await expect(dialog).toContainText(`The protected outlets turn off too: ${PROTECTED} “`);
  const confirm = dialog.getByTestId('confirm');
  await expect(confirm).toBeDisabled();
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await expectAccessible(page, 'every outlet off, asked');
  await dialog.getByLabel(/^Yes, turn off the protected outlets too/).check();
  await expect(confirm).toBeEnabled();
  await confirm.click();
  await expect(mine.getByTestId('every-outlet-said')).toContainText('Every outlet turns off after its delay.');

  await mine.getByRole('button', { name: 'Cancel pending commands' }).click();
  await expect(dialog).toContainText('every outlet stays as it is now');
  await dialog.getByTestId('confirm').click();
  await expect(mine.getByTestId('every-outlet-said')).toContainText('Pending commands cancelled.');

  await mine.getByRole('button', { name: 'Turn all on (each after its delay)' }).click();
  await expect(dialog).not.toContainText('protected');
  await dialog.getByTestId('confirm').click();
  await expect(mine.getByTestId('every-outlet-said')).toContainText('Every outlet turns on after its delay.');
});

test('a viewer sees the settings read only and no rename', async ({ browser }) => {
  const viewer = await signedIn(browser, VIEWER);
  await viewer.goto(settingsUrl());
  await expect(viewer.getByTestId('link-state')).toContainText('live');
  await expect(viewer.getByTestId('settings-read')).toContainText('Read from the PDU');
  await expect(viewer.getByTestId('settings-role')).toContainText('Your role (viewer) may look but not change settings. Admins change these settings.');
  await expect(viewer.getByRole('button', { name: /^Edit / })).toHaveCount(0);
  await expect(viewer.getByTestId('every-outlet').getByRole('button')).toHaveCount(0);
  await expect(viewer.getByTestId('outlet-settings-1')).toBeVisible();
  await expectAccessible(viewer, 'the settings page for a viewer');
  await viewer.goto(`${bridge.url}/`);
  await expect(viewer.getByTestId('outlet-1')).toBeVisible();
  await expect(viewer.getByTestId('rename')).toHaveCount(0);
  await viewer.context().close();
});

test('the settings page is reached from the dashboard and the fleet, and fits a phone', async ({ page }) => {
  await openLive(page, `${bridge.url}/`);
  await page.getByTestId('settings-link').click();
  await expect(page).toHaveURL(settingsUrl());
  await expect(page.getByRole('heading', { name: 'Settings of the PDU' })).toBeVisible();
  await page.getByTestId('dashboard-link').click();
  await expect(page).toHaveURL(`${bridge.url}/pdu/${DEVICE}`);
  await openLive(page, `${bridge.url}/fleet`);
  await page.getByTestId('fleet-settings-link').click();
  await expect(page).toHaveURL(settingsUrl());
  // With one PDU, /settings is its settings page.
  await openLive(page, `${bridge.url}/settings`);
  await expect(page.getByTestId('outlet-settings-1')).toBeVisible();

  for (const [name, width, height] of [['desktop', 1280, 900], ['phone', 390, 844]] as const) {
    await page.setViewportSize({ width, height });
    await openSettings(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `no sideways scroll of the page at ${width} px`).toBeLessThanOrEqual(0);
    await expectAccessible(page, `the settings page at ${width} px`);
    await page.screenshot({ path: `../docs/screenshots/settings-${name}.png`, fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: `test-results/settings-${name}-dark.png`, fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
    await openLive(page, `${bridge.url}/`);
    await page.getByTestId('outlet-2').getByTestId('rename').click();
    await expect(page.getByTestId('outlet-2').getByTestId('rename-input')).toBeFocused();
    const tileOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(tileOverflow, `no sideways scroll with a rename open at ${width} px`).toBeLessThanOrEqual(0);
    await expectAccessible(page, `the dashboard with a rename open at ${width} px`);
    await page.getByTestId('outlet-2').screenshot({ path: `test-results/rename-${name}.png` });
  }
});
