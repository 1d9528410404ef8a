// Shared by the end-to-end tests: opening the dashboard, axe-core checks in
// light and dark mode, and extra bridges and simulated PDUs started by a test
// for states the main bridge cannot show (a PDU that never answers, one that
// is lost, a transfer, a bridge that stops).
import { test, expect, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const bin = process.env.PDU_BRIDGE_BIN!;

/** The first admin's password of every bridge a test starts. */
export const BRIDGE_ADMIN_PASSWORD = 'e2e-extra-admin-password';

/** On the login page: sign in, and land where the page was headed. */
export async function signIn(page: Page, name: string, password: string) {
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => url.pathname !== '/login');
}

/**
 * Open the dashboard (signing in as admin if the bridge asks) and wait
 * until the WASM has hydrated it and the live stream is up.
 */
export async function openLive(page: Page, url = '/') {
  await page.goto(url);
  if (new URL(page.url()).pathname === '/login') {
    await signIn(page, 'admin', BRIDGE_ADMIN_PASSWORD);
  }
  await expect(page.getByTestId('link-state')).toContainText('live');
}

/** What the browser logs when a test breaks a connection on purpose. */
export const BROKEN_CONNECTIONS = /Failed to load resource|ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|EventSource|net::/;

/**
 * Every test of the calling file fails on any console error or uncaught
 * exception in its page (console errors matching `expected` aside). Returns
 * `watch`, for the pages a test opens itself.
 */
export function failOnPageErrors(expected?: RegExp) {
  let problems: string[] = [];
  const watch = (page: Page) => {
    page.on('console', (m) => {
      if (m.type() === 'error' && !expected?.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  };
  test.beforeEach(async ({ page }) => {
    problems = [];
    watch(page);
  });
  test.afterEach(() => {
    expect(problems, 'the page logged errors').toEqual([]);
  });
  return watch;
}

/** The number of buckets a chart drew, once it has drawn. */
export async function chartPoints(page: Page, testid: string) {
  const plot = page.getByTestId(testid).locator('.plot');
  await expect(plot).toBeVisible();
  await expect(plot.locator('svg polyline').first()).toBeAttached();
  return Number(await plot.getAttribute('data-points'));
}

/** Zero axe-core violations (WCAG 2.x A and AA, and best practice) in light and in dark mode. */
export async function expectAccessible(page: Page, what: string) {
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme, reducedMotion: 'reduce' });
    const results = await new AxeBuilder({ page }).analyze();
    const found = results.violations.map(
      (v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')} — ${n.failureSummary?.split('\n')[1] ?? ''}`).join(' | ')}`,
    );
    expect(found, `axe-core violations: ${what}, ${colorScheme} mode`).toEqual([]);
  }
  await page.emulateMedia({ colorScheme: 'light', reducedMotion: 'no-preference' });
}

export async function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A UDP port nothing listens on (bound, then released). */
export async function freeUdpPort(): Promise<number> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1', () => {
      const port = socket.address().port;
      socket.close(() => resolve(port));
    });
  });
}

async function exited(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
}

/** A bridge of its own on a free port, with its own data folder. */
export class Bridge {
  child?: ChildProcess;
  readonly dataDir = mkdtempSync(join(tmpdir(), 'pdu-bridge-e2e-extra-'));
  constructor(readonly port: number, readonly env: Record<string, string>) {}

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(env: Record<string, string> = {}) {
    const bridge = new Bridge(await freeTcpPort(), env);
    await bridge.start();
    return bridge;
  }

  async start() {
    this.child = spawn(bin, [], {
      stdio: 'ignore',
      env: {
        ...process.env,
        BRIDGE_WEB_BIND: '127.0.0.1',
        BRIDGE_WEB_PORT: String(this.port),
        BRIDGE_DATA_DIR: this.dataDir,
        MQTT_BROKER: 'none',
        BRIDGE_DEMO_HISTORY_DAYS: '0',
        BRIDGE_LOG_LEVEL: 'warn',
        BRIDGE_ADMIN_PASSWORD,
        ...this.env,
      },
    });
    await expect
      .poll(async () => {
        try {
          return (await fetch(`${this.url}/api/health`)).status;
        } catch {
          return 0;
        }
      }, { timeout: 30_000 })
      .toBeGreaterThan(0);
  }

  async stop() {
    if (!this.child) return;
    this.child.kill('SIGTERM');
    await exited(this.child);
    this.child = undefined;
  }
}

/** `pdu-bridge simulate`: a simulated PDU44001 as an SNMP agent on a UDP port. */
export class Simulator {
  child?: ChildProcess;
  constructor(readonly port: number) {}

  static async start() {
    const sim = new Simulator(await freeUdpPort());
    await sim.start();
    return sim;
  }

  async start() {
    this.child = spawn(bin, ['simulate', '--port', String(this.port)], { stdio: 'ignore' });
    // It answers once it has bound its port.
    await expect.poll(() => this.answers(), { timeout: 20_000 }).toBe(true);
  }

  answers() {
    try {
      execFileSync('snmpget', ['-v2c', '-c', 'public', '-t', '0.5', '-r', '0', `127.0.0.1:${this.port}`, '1.3.6.1.2.1.1.5.0'], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  }

  /** `snmpset` with the write community. */
  set(oid: string, type: string, value: string) {
    execFileSync('snmpset', ['-v2c', '-c', 'private', `127.0.0.1:${this.port}`, oid, type, value], { stdio: 'pipe' });
  }

  async stop() {
    if (!this.child) return;
    this.child.kill('SIGTERM');
    await exited(this.child);
    this.child = undefined;
  }
}

/** Settings for a bridge that polls 127.0.0.1:`port` over SNMP and gives up quickly. */
export function pollingPort(port: number): Record<string, string> {
  return {
    PDU_HOST: '127.0.0.1',
    PDU_SNMP_PORT: String(port),
    BRIDGE_SNMP_TIMEOUT: '0.4',
    BRIDGE_SNMP_RETRIES: '0',
    BRIDGE_POLL_INTERVAL: '1',
  };
}

/** ePDU2SourceConfigPreferredSource: 1 = A, 2 = B. */
export const PREFERRED_SOURCE_OID = '1.3.6.1.4.1.3808.1.1.6.9.2.1.3.1';
