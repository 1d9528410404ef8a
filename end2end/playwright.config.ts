// End-to-end tests of the dashboard in Debian's Chromium. The bridge binary
// (built by scripts/test.sh, site embedded) is started on a free loopback
// port with the simulated PDU and a private data folder.
import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const port = process.env.E2E_PORT ?? '18080';
/** The main bridge's first admin (a fresh data folder each run). */
export const ADMIN_PASSWORD = 'e2e-admin-password';
/** Where global-setup.ts leaves the admin's signed-in browser state. */
export const ADMIN_STATE = 'test-results/.auth/admin.json';
const bin = process.env.PDU_BRIDGE_BIN;
if (!bin) throw new Error('PDU_BRIDGE_BIN must name the pdu-bridge binary (scripts/test.sh sets it)');

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: true,
  reporter: [['list'], ['json', { outputFile: 'test-results/results.json' }]],
  // Signs in once through the login page; every test starts signed in as admin.
  globalSetup: './global-setup.ts',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    storageState: ADMIN_STATE,
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
  },
  webServer: {
    command: bin,
    url: `http://127.0.0.1:${port}/api/health`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      ...process.env,
      BRIDGE_WEB_BIND: '127.0.0.1',
      BRIDGE_WEB_PORT: port,
      BRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD,
      // The embedded broker on its own port, clear of anything on 1883.
      MQTT_PORT: String(Number(port) + 1),
      // A week of simulated history, so charts and reports have data.
      BRIDGE_DEMO_HISTORY_DAYS: '7',
      BRIDGE_PRICE_PER_KWH: '0.30',
      BRIDGE_CURRENCY: 'EUR',
      BRIDGE_DATA_DIR: mkdtempSync(join(tmpdir(), 'pdu-bridge-e2e-')),
    } as Record<string, string>,
  },
});
