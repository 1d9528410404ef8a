// Access control as a person meets it in the browser: signing in on the
// server's login page, what each role may press, protected outlets asking
// an admin twice, the access page (users, API tokens shown once, the audit
// log), signing out, and a session that outlives a restart of the bridge.
// Each bridge here is started by the test, with its own data folder.
import { test, expect, type Browser, type Page } from '@playwright/test';
import { Bridge, expectAccessible } from './helpers';
import { addUser, fetchFromPage, outletState, signIn } from './access-helpers';

const ADMIN_PASSWORD = 'admin-pass-e2e-1';
const VIEWER = { name: 'vera', password: 'viewer-pass-e2e-1' };
const OPERATOR = { name: 'otto', password: 'operator-pass-e2e-1' };
const DEVICE = 'pdu44001';
/** The simulated PDU's outlet 3 ("NAS") is protected on this bridge. */
const PROTECTED = 3;

async function newPage(browser: Browser, options: { javaScriptEnabled?: boolean } = {}): Promise<Page> {
  const context = await browser.newContext(options);
  return context.newPage();
}

/** Wait until the WASM has hydrated the page and its live stream is up. */
async function live(page: Page) {
  await expect(page.getByTestId('link-state')).toContainText('live');
}

test.describe('access control', () => {
  let bridge: Bridge;

  test.beforeAll(async () => {
    bridge = await Bridge.start({ BRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD, BRIDGE_PROTECTED_OUTLETS: String(PROTECTED) });
    addUser(bridge, VIEWER.name, 'viewer', VIEWER.password);
    addUser(bridge, OPERATOR.name, 'operator', OPERATOR.password);
  });
  test.afterAll(async () => {
    await bridge?.stop();
  });

  test('first run: the login page refuses a wrong password and lands the admin on the dashboard', async ({ browser }) => {
    const page = await newPage(browser);
    await page.goto(`${bridge.url}/`);
    await expect(page).toHaveURL(/\/login\?next=%2F$/);
    await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
    await expectAccessible(page, 'login page');

    await page.getByLabel('Name').fill('admin');
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.locator('.login-error')).toHaveText('Wrong name or password.');
    await expect(page.getByLabel('Name')).toHaveValue('admin');
    await expectAccessible(page, 'login page with its error');

    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page).toHaveURL(`${bridge.url}/`);
    await expect(page.getByTestId('signed-in')).toHaveText('Signed in as admin · admin');
    await expect(page.getByRole('link', { name: 'Access' })).toHaveAttribute('href', '/access');
    await expect(page.getByTestId('sign-out')).toBeVisible();
    await live(page);
  });

  test('a viewer cannot switch: the buttons say why and the bridge refuses a direct call', async ({ browser }) => {
    const page = await newPage(browser);
    await signIn(page, bridge.url, VIEWER.name, VIEWER.password);
    await live(page);
    await expect(page.getByTestId('signed-in')).toHaveText('Signed in as vera · viewer');
    await expect(page.getByTestId('outlets-role')).toContainText('Your role (viewer) may look but not switch outlets');
    const off = page.getByRole('button', { name: /^Switch off outlet 5 / });
    await expect(off).toBeDisabled();
    await expect(off).toHaveAttribute('aria-describedby', 'outlets-role');
    await expect(page.getByTestId('rules-role')).toContainText('may look but not change rules');
    await expect(page.getByTestId('new-rule')).toBeDisabled();

    const before = await outletState(page, 5);
    const viaServerFunction = await fetchFromPage(page, '/fn/outlet_command', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `device_id=${DEVICE}&outlet=5&action=off`,
    });
    expect(viaServerFunction.status, viaServerFunction.text).toBe(403);
    const viaApi = await fetchFromPage(page, '/api/outlets/5/command', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'off' }),
    });
    expect(viaApi.status, viaApi.text).toBe(403);
    expect(JSON.parse(viaApi.text).error).toContain('viewer');
    expect(await outletState(page, 5)).toBe(before);
    await expectAccessible(page, 'dashboard of a viewer');
  });

  test('an operator switches an outlet, but not a protected one off', async ({ browser }) => {
    const page = await newPage(browser);
    await signIn(page, bridge.url, OPERATOR.name, OPERATOR.password);
    await live(page);
    await expect(page.getByTestId('outlets-role')).toHaveCount(0);

    const tile = page.getByTestId('outlet-6');
    await expect(tile.getByTestId('state')).toContainText('ON');
    await page.getByRole('button', { name: /^Switch off outlet 6 / }).click();
    const dialog = page.getByTestId('confirm-dialog');
    await expect(dialog).toContainText('Turn off outlet 6');
    await dialog.getByTestId('confirm').click();
    await expect(tile.getByTestId('state')).toContainText('OFF');
    expect(await outletState(page, 6)).toBe('off');

    // The protected outlet: marked in words, its power-cutting buttons off with the reason.
    const guarded = page.getByTestId(`outlet-${PROTECTED}`);
    await expect(guarded.getByTestId('protected')).toContainText('Protected');
    const protectedOff = page.getByRole('button', { name: new RegExp(`^Switch off outlet ${PROTECTED} `) });
    await expect(protectedOff).toBeDisabled();
    await expect(page.locator(`#outlet-${PROTECTED}-protected`)).toHaveText('Protected: only an admin may switch it off.');
    await expect(page.getByRole('button', { name: new RegExp(`^Switch on outlet ${PROTECTED} `) })).toBeEnabled();
  });

  test('an admin is asked a second time, with the load, before a protected outlet goes off', async ({ browser }) => {
    const page = await newPage(browser);
    await signIn(page, bridge.url, 'admin', ADMIN_PASSWORD);
    await live(page);
    const on = await fetchFromPage(page, `/api/outlets/${PROTECTED}/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'on' }),
    });
    expect(on.status, on.text).toBe(200);
    const tile = page.getByTestId(`outlet-${PROTECTED}`);
    await expect(tile.getByTestId('state')).toContainText('ON');

    await page.getByRole('button', { name: new RegExp(`^Switch off outlet ${PROTECTED} `) }).click();
    const dialog = page.getByTestId('confirm-dialog');
    await expect(dialog.getByRole('heading')).toHaveText(`Turn off outlet ${PROTECTED} “NAS”?`);
    await dialog.getByTestId('confirm').click();
    await expect(dialog.getByRole('heading')).toHaveText(
      new RegExp(`^Outlet ${PROTECTED} “NAS” is protected and draws \\d+ W\\. Switch it off anyway\\?$`),
    );
    await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
    expect(await outletState(page, PROTECTED)).toBe('on');
    await dialog.getByTestId('confirm').click();
    await expect(tile.getByTestId('state')).toContainText('OFF');
    expect(await outletState(page, PROTECTED)).toBe('off');
  });

  test('without JavaScript the confirmation asks about the protected outlet and signing out still works', async ({ browser }) => {
    const admin = await newPage(browser);
    await signIn(admin, bridge.url, 'admin', ADMIN_PASSWORD);
    await fetchFromPage(admin, `/api/outlets/${PROTECTED}/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'on' }),
    });

    const page = await newPage(browser, { javaScriptEnabled: false });
    await page.goto(`${bridge.url}/login`);
    await page.getByLabel('Name').fill('admin');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByTestId('signed-in')).toHaveText('Signed in as admin · admin');

    await page.getByRole('button', { name: new RegExp(`^Switch off outlet ${PROTECTED} `) }).click();
    const confirm = page.getByTestId('server-confirm');
    await expect(confirm.getByTestId('protected-question')).toContainText(
      new RegExp(`Outlet ${PROTECTED} “NAS” is protected and draws \\d+ W\\. Switch it off anyway\\?`),
    );
    await expect(confirm.locator('input[name="confirm_protected"]')).toHaveValue('1');
    await confirm.getByRole('button', { name: 'Turn off “NAS” anyway' }).click();
    await expect(page.getByTestId('command-message')).toContainText(`Outlet ${PROTECTED} “NAS” is off`);
    await expect.poll(() => outletState(admin, PROTECTED)).toBe('off');

    await page.getByTestId('sign-out').click();
    await expect(page).toHaveURL(/\/login$/);
  });

  test('the access page: an admin adds a user, and creates a token that is shown once, then revokes it', async ({ browser }) => {
    const page = await newPage(browser);
    await signIn(page, bridge.url, 'admin', ADMIN_PASSWORD);
    await page.getByRole('link', { name: 'Access' }).click();
    await expect(page).toHaveURL(`${bridge.url}/access`);
    await live(page);
    await expect(page.getByTestId('account-facts')).toContainText('admin');
    await expect(page.getByTestId('session-current')).toContainText('this browser');

    await page.getByTestId('user-name').fill('carla');
    await page.locator('#user-add-role').selectOption('operator');
    await page.getByTestId('user-password').fill('carla-pass-e2e-1');
    await page.getByRole('button', { name: 'Add user' }).click();
    await expect(page.getByTestId('user-carla')).toBeVisible();
    await expect(page.getByLabel('Role of carla', { exact: true })).toHaveValue('operator');

    await page.getByTestId('token-name').fill('backup-script');
    await page.locator('#token-add-role').selectOption('viewer');
    await page.getByRole('button', { name: 'Create token' }).click();
    const shown = page.getByTestId('new-token-value');
    await expect(shown).toHaveValue(/\S{16,}/);
    const token = await shown.inputValue();
    await expect(page.getByTestId('new-token')).toContainText('it will not be shown again');
    await expect(page.getByTestId('token-backup-script')).toContainText('viewer');
    await expect(page.getByTestId('audit-log')).toContainText('login');
    await expectAccessible(page, 'access page of an admin, with a new token shown');

    const withToken = (t: string) => fetch(`${bridge.url}/api/status`, { headers: { authorization: `Bearer ${t}` } });
    expect((await withToken(token)).status).toBe(200);

    // Shown once: after a reload the secret is nowhere on the page.
    await page.reload();
    await live(page);
    await expect(page.getByTestId('token-backup-script')).toBeVisible();
    await expect(page.getByTestId('new-token')).toHaveCount(0);
    expect(await page.content()).not.toContain(token);

    await page.getByRole('button', { name: 'Revoke token backup-script' }).click();
    const dialog = page.getByTestId('token-revoke-dialog');
    await expect(dialog).toContainText('Revoke token “backup-script”?');
    await dialog.getByTestId('confirm').click();
    await expect(page.getByTestId('token-backup-script')).toHaveCount(0);
    expect((await withToken(token)).status).toBe(401);

    // The new user signs in with the role given.
    const carla = await newPage(browser);
    await signIn(carla, bridge.url, 'carla', 'carla-pass-e2e-1');
    await expect(carla.getByTestId('signed-in')).toHaveText('Signed in as carla · operator');
  });

  test('the access page of a viewer shows their account and sessions, never the admin sections', async ({ browser }) => {
    const page = await newPage(browser);
    await signIn(page, bridge.url, VIEWER.name, VIEWER.password);
    await page.goto(`${bridge.url}/access`);
    await live(page);
    await expect(page.getByRole('heading', { name: 'Your account' })).toBeVisible();
    await expect(page.getByTestId('account-facts')).toContainText('Look at everything; change nothing.');
    await expect(page.getByTestId('session-current')).toBeVisible();
    for (const admin of ['Users', 'API tokens', 'Audit log']) {
      await expect(page.getByRole('heading', { name: admin })).toHaveCount(0);
    }
    await expectAccessible(page, 'access page of a viewer');
  });

  test('signing out returns to the login page and the old session no longer works', async ({ browser }) => {
    const page = await newPage(browser);
    await signIn(page, bridge.url, OPERATOR.name, OPERATOR.password);
    const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const me = () => fetch(`${bridge.url}/api/auth/me`, { headers: { cookie } });
    expect((await me()).status).toBe(200);

    await page.getByTestId('sign-out').click();
    await expect(page).toHaveURL(/\/login$/);
    await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
    expect((await me()).status).toBe(401);
    await page.goto(`${bridge.url}/access`);
    await expect(page).toHaveURL(/\/login\?next=%2Faccess$/);
  });

  test('a session that ended elsewhere is said so, with the way to sign in again', async ({ browser }) => {
    const page = await newPage(browser);
    await signIn(page, bridge.url, OPERATOR.name, OPERATOR.password);
    await live(page);
    // Signed out behind the page's back (another tab, "sign out everywhere").
    await fetchFromPage(page, '/auth/logout', { method: 'POST' });

    await page.getByRole('button', { name: /^Switch on outlet 6 / }).click();
    await page.getByTestId('confirm-dialog').getByTestId('confirm').click();
    const ended = page.getByTestId('session-ended');
    await expect(ended).toContainText('Your session ended');
    await expect(ended.getByRole('link', { name: 'sign in again' })).toHaveAttribute('href', '/login?next=/');
    await expect(page.getByTestId('command-message')).toContainText('Your session ended');
  });
});

test('a session survives a restart of the bridge', async ({ browser }) => {
  const bridge = await Bridge.start({ BRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
  try {
    const page = await newPage(browser);
    await signIn(page, bridge.url, 'admin', ADMIN_PASSWORD);
    await bridge.stop();
    await bridge.start();
    await page.reload();
    await expect(page).toHaveURL(`${bridge.url}/`);
    await expect(page.getByTestId('signed-in')).toHaveText('Signed in as admin · admin');
    await live(page);
  } finally {
    await bridge.stop();
  }
});

test('anonymous viewing says so, offers to sign in, and switches nothing', async ({ browser }) => {
  const bridge = await Bridge.start({ BRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD, BRIDGE_ANONYMOUS_READ: 'true' });
  try {
    const page = await newPage(browser);
    await page.goto(`${bridge.url}/`);
    await live(page);
    await expect(page.getByTestId('signed-in')).toHaveText('Viewing without signing in (read only)');
    await expect(page.getByTestId('sign-in')).toHaveAttribute('href', '/login?next=/');
    await expect(page.getByTestId('sign-out')).toHaveCount(0);
    await expect(page.getByTestId('outlets-role')).toContainText('sign in to switch outlets');
    await expect(page.getByRole('button', { name: /^Switch off outlet 5 / })).toBeDisabled();
    await expectAccessible(page, 'dashboard of an anonymous viewer');
    await page.getByTestId('sign-in').click();
    await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  } finally {
    await bridge.stop();
  }
});
