// Shared by the access-control end-to-end tests: signing in through the
// server's login page, and calls made from inside a signed-in page (so they
// carry its session cookie and its same-origin headers, as the dashboard's own).
import { expect, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { bin, signIn as signInHere, type Bridge } from './helpers';

/** Sign in at `baseUrl`/login and wait for the dashboard to say who is signed in. */
export async function signIn(page: Page, baseUrl: string, name: string, password: string) {
  await page.goto(`${baseUrl}/login`);
  await signInHere(page, name, password);
  await expect(page.getByTestId('signed-in')).toContainText(`Signed in as ${name}`);
}

/** `fetch` from inside the page: the status and the body as text. */
export async function fetchFromPage(
  page: Page,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; text: string }> {
  return page.evaluate(
    async ([path, init]) => {
      const response = await fetch(path, init as RequestInit);
      return { status: response.status, text: await response.text() };
    },
    [path, init] as const,
  );
}

/** Add a user to a running bridge with `pdu-bridge user add` on its data folder (password on stdin). */
export function addUser(bridge: Bridge, name: string, role: string, password: string) {
  execFileSync(bin, ['user', 'add', name, '--role', role], {
    input: `${password}\n`,
    env: { ...process.env, BRIDGE_DATA_DIR: bridge.dataDir, BRIDGE_LOG_LEVEL: 'warn' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Outlet `n`'s state ("on" / "off") as the bridge reports it to the page's session. */
export async function outletState(page: Page, n: number): Promise<string> {
  const answer = await fetchFromPage(page, '/api/status');
  expect(answer.status, answer.text).toBe(200);
  const status = JSON.parse(answer.text);
  return status.outlets.find((o: { number: number }) => o.number === n).state;
}
