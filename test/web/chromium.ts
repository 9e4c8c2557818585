/**
 * Debian's Chromium driven by playwright-core, as the browser tests launch it: headless, a fresh profile in a temp
 * dir, no network chatter of its own, page errors collected (each test asserts there were none).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser as PwBrowser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, expect } from 'vitest';

export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Uncaught errors of the page so far. */
  pageErrors: string[];
  close(): Promise<void>;
}

export async function launchChromium(opts: { viewport?: { width: number; height: number } } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it)`);
  const profileDir = await mkdtemp(join(tmpdir(), 'op-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    locale: 'en-US',
    ...(opts.viewport ? { viewport: opts.viewport } : {}),
    args: CHROMIUM_ARGS,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(5_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  return {
    context,
    page,
    pageErrors,
    async close() {
      await context.close();
      await rm(profileDir, { recursive: true, force: true });
    },
  };
}

/**
 * One Chromium for a file's tests (launched at the first open, closed after the file), each open a fresh context of
 * its own: its own storage, cache, service workers, routes, clock and pages, closed by its close(), so that nothing of
 * one test's page is left to the next. A launch per test (launchChromium) costs about a second more on two cores.
 */
export function sharedChromium(): { open(opts?: { viewport?: { width: number; height: number } }): Promise<Browser> } {
  let launched: Promise<PwBrowser> | undefined;
  afterAll(async () => {
    await (await launched)?.close();
  });
  return {
    async open(opts = {}) {
      if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it)`);
      launched ??= chromium.launch({ executablePath: CHROMIUM, headless: true, chromiumSandbox: false, args: CHROMIUM_ARGS });
      const context = await (await launched).newContext({ locale: 'en-US', ...(opts.viewport ? { viewport: opts.viewport } : {}) });
      const page = await context.newPage();
      page.setDefaultTimeout(5_000);
      const pageErrors: string[] = [];
      page.on('pageerror', (err) => pageErrors.push(String(err)));
      return { context, page, pageErrors, close: () => context.close() };
    },
  };
}

/** Close the browser, then expect its page had no uncaught errors (closed first: a failed expectation must not leave it running). */
export async function closeExpectingNoPageErrors(browser: Browser | undefined): Promise<void> {
  const pageErrors = browser?.pageErrors ?? [];
  await browser?.close();
  expect(pageErrors).toEqual([]);
}

/**
 * The hooks of a suite whose tests share one browser and one gateway: after each test, no uncaught page errors; after
 * the suite, the browser closed and the gateway stopped. `get` reads them when the hooks run (they are made in beforeAll).
 */
export function browserAndGatewayHooks(get: () => { browser: Browser | undefined; gateway: { stop(): Promise<void> } | undefined }): void {
  afterEach(() => {
    expect(get().browser?.pageErrors).toEqual([]);
  });
  afterAll(async () => {
    const { browser, gateway } = get();
    await browser?.close();
    await gateway?.stop();
  });
}

/**
 * The hooks of a suite that opens a browser per test: after each, that browser closed (`take` hands it over and forgets
 * it) and no uncaught page errors; after the suite, the gateway stopped.
 */
export function browserPerTestHooks(take: () => Browser | undefined, gateway: () => { stop(): Promise<void> } | undefined): void {
  afterEach(async () => {
    await closeExpectingNoPageErrors(take());
  });
  afterAll(async () => {
    await gateway()?.stop();
  });
}

/**
 * The page's verification three ways, each in a browser of its own: in its worker; in a browser without Workers (the
 * page's thread does it); and with the worker's script answered 404 (the worker fails, and the page does it itself).
 * `open(setup?)` opens the page (`setup` runs before its scripts), `verify` returns what it showed, `asked` counts the
 * page's messages to workers so far, `browser` is the one open now and `close` closes it. The worker must have been
 * asked in the first and third ways and not in the second; the caller compares the three (the same verdicts).
 */
export async function verifyThreeWays<T>(s: { open(setup?: () => void): Promise<void>; verify(): Promise<T>; asked(): Promise<number>; browser(): Browser; close(): Promise<void> }): Promise<{ inWorker: T; onPage: T; failed: T }> {
  await s.open();
  const inWorker = await s.verify();
  expect(await s.asked(), 'in the worker').toBeGreaterThan(0);
  await s.close();
  await s.open(() => void Reflect.deleteProperty(window, 'Worker'));
  const onPage = await s.verify();
  expect(await s.asked(), 'without Workers').toBe(0);
  await s.close();
  await s.open();
  await s.browser().context.route('**/assets/verify-worker-*.js', (route) => route.fulfill({ status: 404, body: 'not here' }));
  const failed = await s.verify();
  expect(await s.asked(), 'the worker asked, and failing').toBeGreaterThan(0);
  return { inWorker, onPage, failed };
}

/** A real drop event carrying a File onto the Verify view's drop zone, as a person dragging a file onto the page makes. */
export async function dropFile(page: Page, name: string, bytes: Uint8Array): Promise<void> {
  const dataTransfer = await page.evaluateHandle(({ name, b64 }) => {
    const bin = atob(b64);
    const arr = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) arr[i] = bin.charCodeAt(i);
    const dt = new DataTransfer();
    dt.items.add(new File([arr], name));
    return dt;
  }, { name, b64: Buffer.from(bytes).toString('base64') });
  await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer });
}
