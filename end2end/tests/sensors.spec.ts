// The environment probe's history as a person meets it: a PDU with a probe
// gets temperature and humidity charts in the History panel (drawn from
// the demo's simulated day, with their units and a CSV of the same data);
// the main bridge's PDU has no probe and shows no such chart.
import { test, expect, type Page } from '@playwright/test';
import { Bridge, chartPoints, expectAccessible, failOnPageErrors, openLive } from './helpers';

let bridge: Bridge;
test.beforeAll(async () => {
  // A day of simulated history, the last two hours at 1 s, probe included.
  bridge = await Bridge.start({ BRIDGE_SIM_PROBE: 'true', BRIDGE_DEMO_HISTORY_DAYS: '1' });
});
test.afterAll(async () => {
  await bridge?.stop();
});

// Every test fails on any console error or uncaught exception in the page.
failOnPageErrors();

async function temperaturePoints(page: Page) {
  const response = await page.request.get(`${bridge.url}/api/history/environment?range=1h`);
  if (!response.ok()) return 0;
  const h = await response.json();
  const series = h.series?.find((s: { metric: string }) => s.metric === 'environment.temperature');
  return series?.points?.length ?? 0;
}

test('a PDU with a probe charts its temperature and humidity; one without has no such chart', async ({ page }) => {
  // The main bridge: its simulated PDU has no probe.
  await openLive(page, '/');
  await expect(page.getByTestId('chart-power')).toBeVisible();
  await expect(page.getByTestId('chart-temperature')).toHaveCount(0);
  await expect(page.getByTestId('chart-humidity')).toHaveCount(0);

  await openLive(page, `${bridge.url}/?range=1h`);
  await expect.poll(() => temperaturePoints(page), { timeout: 60_000 }).toBeGreaterThan(3000);
  await openLive(page, `${bridge.url}/?range=1h`);
  const temperature = page.getByTestId('chart-temperature');
  await temperature.scrollIntoViewIfNeeded();
  await expect.poll(() => chartPoints(page, 'chart-temperature')).toBeGreaterThan(3000);
  await expect.poll(() => chartPoints(page, 'chart-humidity')).toBeGreaterThan(3000);
  await expect(temperature.locator('.legend')).toHaveText(/Probe temperature/);
  await expect(page.getByTestId('chart-humidity').locator('.legend')).toHaveText(/Probe humidity/);
  // The y axes say their units; the readings are a room's, not zero.
  expect((await temperature.locator('svg text').allTextContents()).join('|')).toContain('°C');
  expect((await page.getByTestId('chart-humidity').locator('svg text').allTextContents()).join('|')).toContain('%');
  const box = (await temperature.locator('.plot').boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
  await expect(page.getByTestId('readout')).toHaveText(/Probe temperature (1\d|2\d|3\d)\.\d °C/);

  // The CSV link is the server's CSV of the same range.
  const csv = temperature.getByRole('link', { name: /CSV/ });
  await expect(csv).toHaveAttribute('href', /\/api\/history\/environment\.csv\?range=1h&device_id=pdu44001$/);
  const text = await (await page.request.get(`${bridge.url}${await csv.getAttribute('href')}`)).text();
  const lines = text.split('\n');
  expect(lines[0]).toBe('time,metric,unit,avg,min,max');
  expect(lines.some((l) => l.includes(',environment.temperature,°C,'))).toBe(true);
  expect(lines.some((l) => l.includes(',environment.humidity,%,'))).toBe(true);

  await expectAccessible(page, 'the dashboard with the probe charts');
});
