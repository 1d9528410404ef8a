// Alarms as people meet them: the banner at the top of every page while an
// alarm waits to be acknowledged, an operator acknowledging it (with the
// keyboard, and with the plain form before and without the WASM), a viewer
// who sees it but may not, and the alarm list with active and past alarms.
// A simulated PDU that stops answering raises `pdu_unreachable`; started
// again, the alarm clears after the bridge's 15 s quiet spell. Each test
// runs on bridges and simulated PDUs of its own, started here.
import { test, expect, type Browser, type Page } from '@playwright/test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BROKEN_CONNECTIONS, Bridge, Simulator, expectAccessible, failOnPageErrors, freeTcpPort, openLive, pollingPort } from './helpers';
import { addUser, fetchFromPage, signIn } from './access-helpers';

const OPERATOR = { name: 'otto', password: 'operator-pass-e2e-2' };
const VIEWER = { name: 'vera', password: 'viewer-pass-e2e-2' };
/** `raised 12:03:04 (5 s ago)`: the viewer's own zone once hydrated, so no "UTC". */
const RAISED = /^raised \d\d:\d\d:\d\d \(\d+ (s|min) ago\)$/;

// These tests stop PDUs on purpose: the browser reports failed requests,
// nothing else may go wrong.
const watch = failOnPageErrors(BROKEN_CONNECTIONS);

async function newPage(browser: Browser, options: { javaScriptEnabled?: boolean } = {}): Promise<Page> {
  const page = await (await browser.newContext(options)).newPage();
  watch(page);
  return page;
}

/** The page does not scroll sideways. */
async function expectNoSidewaysScroll(page: Page, what: string) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, `no sideways scroll: ${what}`).toBeLessThanOrEqual(0);
}

/** One PDU polled over SNMP from a simulator, an operator and a viewer. */
async function bridgeFor(sim: Simulator, label: string) {
  const bridge = await Bridge.start({ ...pollingPort(sim.port), PDU_LABEL: label });
  addUser(bridge, OPERATOR.name, 'operator', OPERATOR.password);
  addUser(bridge, VIEWER.name, 'viewer', VIEWER.password);
  return bridge;
}

test('an unreachable PDU is in the banner until an operator acknowledges it, then cleared on the alarm list', async ({ page, browser }) => {
  test.setTimeout(180_000);
  const sim = await Simulator.start();
  const bridge = await bridgeFor(sim, 'Rack 7');
  try {
    await openLive(page, bridge.url);
    await expect(page.getByTestId('status-strip').getByTestId('status-title')).toHaveText('All normal', { timeout: 20_000 });
    await expect(page.getByTestId('alarm-banner')).toHaveCount(0);
    await expect(page.getByTestId('alarms-link')).toHaveText('Alarms');

    await sim.stop();
    const banner = page.getByTestId('alarm-banner');
    const line = banner.getByTestId('banner-alarm');
    await expect(line.getByTestId('alarm-title')).toHaveText('PDU unreachable', { timeout: 30_000 });
    await expect(line.getByTestId('alarm-severity')).toHaveText(/Critical$/);
    await expect(line.getByTestId('alarm-subject')).toHaveText('Rack 7');
    await expect(line.getByTestId('alarm-details')).toContainText('the PDU stopped answering');
    await expect(line.getByTestId('alarm-raised')).toHaveText(RAISED);
    await expect(banner.getByRole('heading')).toHaveText('1 unacknowledged alarm');
    await expect(page.getByTestId('alarm-announcement')).toHaveText('1 unacknowledged alarm: Critical: PDU unreachable (Rack 7).');
    await expect(page.getByRole('link', { name: 'Alarms 1 active, 1 new' })).toHaveAttribute('href', '/alarms');
    // The admin may acknowledge.
    await expect(line.getByRole('button', { name: 'Acknowledge PDU unreachable (Rack 7)' })).toBeEnabled();
    await expectAccessible(page, 'the alarm banner');
    // On every page, not only the dashboard.
    for (const path of ['/settings', '/fleet', '/access']) {
      await openLive(page, `${bridge.url}${path}`);
      await expect(page.getByTestId('alarm-banner').getByTestId('alarm-title')).toHaveText('PDU unreachable');
    }
    await page.setViewportSize({ width: 390, height: 844 });
    await openLive(page, bridge.url);
    await expect(page.getByTestId('alarm-banner')).toBeVisible();
    await expectNoSidewaysScroll(page, 'the dashboard with the banner on a phone');
    await page.setViewportSize({ width: 1280, height: 900 });

    // A viewer sees it, and why there is no button.
    const viewer = await newPage(browser);
    await signIn(viewer, bridge.url, VIEWER.name, VIEWER.password);
    await expect(viewer.getByTestId('link-state')).toContainText('live');
    const viewerBanner = viewer.getByTestId('alarm-banner');
    await expect(viewerBanner.getByTestId('alarm-title')).toHaveText('PDU unreachable');
    await expect(viewerBanner.getByTestId('acknowledge')).toHaveCount(0);
    await expect(viewerBanner.getByTestId('alarm-role')).toHaveText('Your role (viewer) may look but not acknowledge alarms.');
    const id = await viewerBanner.getByTestId('banner-alarm').getAttribute('data-alarm-id');
    const refused = await fetchFromPage(viewer, `/api/alarms/${id}/acknowledge`, { method: 'POST' });
    expect(refused.status, refused.text).toBe(403);
    await expectAccessible(viewer, 'the alarm banner for a viewer');

    // An operator acknowledges it with the keyboard.
    const operator = await newPage(browser);
    await signIn(operator, bridge.url, OPERATOR.name, OPERATOR.password);
    await expect(operator.getByTestId('link-state')).toContainText('live');
    const button = operator.getByRole('button', { name: 'Acknowledge PDU unreachable (Rack 7)' });
    await button.focus();
    await operator.keyboard.press('Enter');
    const operatorBanner = operator.getByTestId('alarm-banner');
    await expect(operatorBanner.getByTestId('banner-alarm')).toHaveCount(0);
    await expect(operatorBanner.getByTestId('alarm-message')).toHaveText('Acknowledged: PDU unreachable (Rack 7).');
    const stillActive = operatorBanner.getByRole('link', { name: '1 acknowledged alarm still active: see the alarm list' });
    await expect(stillActive).toBeFocused();
    await expect(operator.getByTestId('alarm-announcement')).toHaveText('No unacknowledged alarms; 1 acknowledged alarm still active.');
    await expectAccessible(operator, 'the banner after acknowledging');
    // Everyone's page follows: it leaves the admin's and the viewer's banner too.
    await expect(banner.getByTestId('banner-alarm')).toHaveCount(0);
    await expect(banner.getByTestId('alarm-banner-acknowledged')).toHaveText('1 acknowledged alarm still active: see the alarm list');
    await expect(viewerBanner.getByTestId('banner-alarm')).toHaveCount(0);

    // The list says who acknowledged it and when.
    await stillActive.click();
    await expect(operator).toHaveURL(`${bridge.url}/alarms`);
    await expect(operator).toHaveTitle('Alarms · pdu-bridge');
    await expect(operator.getByTestId('link-state')).toContainText('live');
    const active = operator.getByTestId('active-alarms').getByTestId('alarm');
    await expect(active.getByTestId('alarm-title')).toHaveText('PDU unreachable');
    await expect(active.getByTestId('alarm-acknowledged')).toHaveText(/^by user otto at \d\d:\d\d:\d\d \(\d+ (s|min) ago\)$/);
    await expect(operator.getByTestId('no-past-alarms')).toHaveText('No past alarms.');
    await expect(operator.getByTestId('alarm-banner')).toHaveCount(0);
    await expectAccessible(operator, 'the alarm list with an acknowledged alarm');

    // Back: after 15 s without the condition it is a past alarm.
    await sim.start();
    await expect(operator.getByTestId('no-active-alarms')).toHaveText('No active alarms.', { timeout: 60_000 });
    const past = operator.getByTestId('past-alarms').getByTestId('past-alarm');
    await expect(past).toHaveCount(1);
    await expect(past.getByTestId('alarm-title')).toHaveText('PDU unreachable');
    await expect(past.getByTestId('alarm-severity')).toHaveText(/Critical$/);
    await expect(past.getByTestId('alarm-raised')).toHaveText(/^\d\d:\d\d:\d\d \(\d+ (s|min) ago\)$/);
    await expect(past.getByTestId('alarm-cleared')).toHaveText(/^\d\d:\d\d:\d\d \(\d+ s ago\)$/);
    await expect(past.getByTestId('alarm-acknowledged')).toHaveText(/^by user otto at /);
    await expect(operator.getByTestId('alarms-link')).toHaveText('Alarms');
    // The banner leaves every page once nothing is active.
    await expect(page.getByTestId('alarm-banner')).toHaveCount(0);
    await expectAccessible(operator, 'the alarm list with a past alarm');
    await operator.setViewportSize({ width: 390, height: 844 });
    await expectNoSidewaysScroll(operator, 'the alarm list on a phone');
    await viewer.context().close();
    await operator.context().close();
  } finally {
    await bridge.stop();
    await sim.stop();
  }
});

test('without the WASM an operator acknowledges with the plain form and lands back on the same page', async ({ browser }) => {
  test.setTimeout(120_000);
  const sim = await Simulator.start();
  const bridge = await bridgeFor(sim, 'Rack 8');
  try {
    const page = await newPage(browser, { javaScriptEnabled: false });
    await signIn(page, bridge.url, OPERATOR.name, OPERATOR.password);
    await sim.stop();
    // Without the WASM the page does not update by itself: ask again.
    await expect(async () => {
      await page.goto(`${bridge.url}/fleet`);
      await expect(page.getByTestId('alarm-banner').getByTestId('alarm-title')).toHaveText('PDU unreachable', { timeout: 1_000 });
    }).toPass({ timeout: 30_000 });
    await expect(page.getByTestId('alarm-raised')).toHaveText(/^raised \d\d:\d\d:\d\d UTC \(\d+ s ago\)$/);
    const button = page.getByRole('button', { name: 'Acknowledge PDU unreachable (Rack 8)' });
    // The same post from another site is refused, and acknowledges nothing.
    const id = await page.getByTestId('banner-alarm').getAttribute('data-alarm-id');
    const forged = await page.request.post(`${bridge.url}/forms/alarm`, {
      form: { id: id!, back: '/fleet' },
      headers: { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' },
      maxRedirects: 0,
    });
    expect(forged.status()).toBe(403);
    await page.reload();
    await expect(button).toBeVisible();

    await button.click();
    await expect(page).toHaveURL(new RegExp(`/fleet\\?done=alarm&id=${id}#content$`));
    const banner = page.getByTestId('alarm-banner');
    await expect(banner.getByTestId('alarm-message')).toHaveText('Alarm acknowledged.');
    await expect(banner.getByTestId('banner-alarm')).toHaveCount(0);
    await expect(banner.getByTestId('alarm-banner-acknowledged')).toHaveText('1 acknowledged alarm still active: see the alarm list');
    await page.goto(`${bridge.url}/alarms`);
    await expect(page.getByTestId('active-alarms').getByTestId('alarm-acknowledged')).toHaveText(/^by user otto at /);
    await page.context().close();
  } finally {
    await bridge.stop();
    await sim.stop();
  }
});

test('screenshots of the banner and the alarm list with none, one and several alarms', async ({ page }) => {
  test.setTimeout(180_000);
  const sims = await Promise.all([Simulator.start(), Simulator.start(), Simulator.start()]);
  const bridge = new Bridge(await freeTcpPort(), { BRIDGE_SNMP_TIMEOUT: '0.4', BRIDGE_SNMP_RETRIES: '0' });
  const labels = ['Rack 1 A', 'Rack 1 B', 'Lab bench'];
  const pdus = sims.map((sim, i) => ({ device_id: `pdu-${i + 1}`, host: '127.0.0.1', snmp_port: sim.port, label: labels[i] }));
  writeFileSync(join(bridge.dataDir, 'pdus.json'), JSON.stringify({ pdus }));
  await bridge.start();
  const shoot = async (name: string, path: string) => {
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme, reducedMotion: 'reduce' });
      for (const [size, width, height] of [['desktop', 1280, 900], ['phone', 390, 844]] as const) {
        await page.setViewportSize({ width, height });
        await expectNoSidewaysScroll(page, `${name} (${size})`);
        await page.screenshot({ path: `test-results/alarms-${name}-${size}-${colorScheme}.png`, fullPage: path === '/alarms' });
      }
    }
    await page.emulateMedia({ colorScheme: 'light', reducedMotion: 'no-preference' });
    await page.setViewportSize({ width: 1280, height: 900 });
  };
  try {
    await openLive(page, `${bridge.url}/alarms`);
    await expect(page.getByTestId('fleet-state')).toContainText('3 of 3 online', { timeout: 20_000 });
    await expect(page.getByTestId('no-active-alarms')).toHaveText('No active alarms.');
    await expectAccessible(page, 'the alarm list without alarms');
    await shoot('none', '/alarms');

    await sims[0].stop();
    await openLive(page, `${bridge.url}/pdu/pdu-2`);
    await expect(page.getByTestId('alarm-banner').getByTestId('banner-alarm')).toHaveCount(1, { timeout: 30_000 });
    await shoot('one-dashboard', '/');

    await sims[1].stop();
    await sims[2].stop();
    await expect(page.getByTestId('alarm-banner').getByTestId('banner-alarm')).toHaveCount(3, { timeout: 30_000 });
    await expect(page.getByTestId('alarm-banner').getByRole('heading')).toHaveText('3 unacknowledged alarms');
    await expectAccessible(page, 'the banner with several alarms');
    await shoot('several-dashboard', '/');
    // One acknowledged, two still waiting; then the list.
    await page.getByRole('button', { name: 'Acknowledge PDU unreachable (Lab bench)' }).click();
    await expect(page.getByTestId('alarm-banner').getByTestId('banner-alarm')).toHaveCount(2);
    await expect(page.getByTestId('alarm-banner-acknowledged')).toHaveText('1 acknowledged alarm still active: see the alarm list');
    await expect(page.getByRole('button', { name: /^Acknowledge PDU unreachable/ }).first()).toBeFocused();
    await shoot('several-one-acknowledged', '/');
    await openLive(page, `${bridge.url}/alarms`);
    await expect(page.getByTestId('active-alarms').getByTestId('alarm')).toHaveCount(3);
    await expectAccessible(page, 'the alarm list with several alarms');
    await shoot('several-list', '/alarms');
    await sims[0].start();
    await expect(page.getByTestId('past-alarms').getByTestId('past-alarm')).toHaveCount(1, { timeout: 60_000 });
    await expect(page.getByTestId('past-alarms').getByTestId('alarm-acknowledged')).toHaveText('not acknowledged');
    await expectAccessible(page, 'the alarm list with active and past alarms');
    await shoot('active-and-past-list', '/alarms');
  } finally {
    await bridge.stop();
    await Promise.all(sims.map((s) => s.stop()));
  }
});
