/// <reference lib="dom" />
/**
 * The log's revocation list (GET /v1/revocations) is fetched, decoded and checked in the page's verification worker,
 * not on the page's thread: a real gateway (port 0, temp dir) with three revocations logged serving the built page,
 * Debian's Chromium driven by playwright-core, a bundle dropped on the page, the list replaced with page.route where
 * a test needs another. On the page's thread a one-page list of 64 MiB (42,716 keyCompromise entries, each with its
 * certificate and issuer) took ~2.5 s of decoding in one task (node: TextDecoder 42-88 ms, JSON.parse 96-268 ms,
 * parseRevocationListing ~1 s, again in collectRevocationListing ~1.1-1.5 s; then ~150-220 ms to clone the parsed list
 * to the worker); in Chromium a list of 63 MiB held it 7.3 s and one of 16 MiB 0.9-1.6 s (0 ms with the worker), and
 * reading the answer alone there put tasks of 100-230 ms on the page per 16 MiB (0 ms when a worker read it). Without
 * Workers, or with the worker's script failing to load, the page does it all itself, with the same verdicts.
 */
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { fromBase64, toBase64 } from '../../protocol/index.js';
import { browserPerTestHooks, verifyThreeWays, dropFile, launchChromium, type Browser } from './chromium.js';
import { connectDevice, Pki, postRevocation, reading, registerAtOnce, startTestGateway, nowS, type TestGateway } from '../gateway/harness.js';

let t: TestGateway;
let browser: Browser | undefined;
let page: Page;
let bundle: Uint8Array;
/** GET /v1/revocations as the gateway answers it: three revocations under its latest checkpoint. */
let realList: { checkpoint: string; count: number; revocations: { index: number; revocation: string }[] } & Record<string, unknown>;
/** The real list with one statement's bytes changed: its checkpoint (signed by the trusted key) does not commit to it. */
let tamperedBody: string;
/** One page of LARGE_LIST_BYTES: the real list's entries repeated under its real checkpoint (which commits to three). */
let largeBody: string;
const LARGE_LIST_BYTES = 16 * 1024 * 1024;

beforeAll(async () => {
  const pki = await Pki.create();
  t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5 });
  const psb = await pki.agency('psb.example');
  const sensor = await pki.device(psb, { kind: 'temperature-sensor', types: ['temperature'] });
  const others = await Promise.all([1, 2, 3].map(() => pki.device(psb)));
  await registerAtOnce(t.gw, psb, [sensor, ...others]);
  // keyCompromise: the list carries each revoked certificate and its agency's beside the statement.
  for (const d of others) {
    const r = await postRevocation(t, psb, d.cert, nowS() - 60, 'keyCompromise');
    if (r.status >= 300) throw new Error(`revocation refused: ${JSON.stringify(r.body)}`);
  }
  const c = await connectDevice(t.gw, sensor);
  await c.publish(await reading(sensor, 1));
  const a = await c.next();
  await c.end();
  if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a.rejection)}`);
  bundle = new Uint8Array(await (await fetch(`${t.gw.httpUrl}/v1/entries/${a.receipt.index}/bundle`)).arrayBuffer());
  // The list under a checkpoint past the reading (the page would call an older one stale).
  for (;;) {
    realList = (await (await fetch(`${t.gw.httpUrl}/v1/revocations`)).json()) as typeof realList;
    if ((realList.treeSize as number) > a.receipt.index) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(realList.revocations.length).toBe(3);

  const changed = fromBase64(realList.revocations[1]!.revocation);
  changed[changed.length >> 1]! ^= 1;
  tamperedBody = JSON.stringify({ ...realList, revocations: realList.revocations.map((r, i) => (i === 1 ? { ...r, revocation: toBase64(changed) } : r)) });

  const entryChars = JSON.stringify(realList.revocations[0]).length + 1;
  const n = Math.floor(LARGE_LIST_BYTES / entryChars);
  const entries = Array.from({ length: n }, (_, i) => ({ ...realList.revocations[i % 3]!, index: i }));
  largeBody = JSON.stringify({ ...realList, treeSize: n + 1, count: n, revocations: entries, next: null });
}, 60_000);

browserPerTestHooks(() => { const closing = browser; browser = undefined; return closing; }, () => t); // closed after each test

/**
 * Opens the page (after `setup`, run before the page's own scripts), recording the page's long tasks, the longest
 * text JSON.parse was given on the page's thread, what the page's thread fetched, and what it posted to workers.
 */
async function open(setup?: () => void): Promise<void> {
  browser = await launchChromium();
  ({ page } = browser);
  if (setup) await page.addInitScript(setup);
  await page.addInitScript(() => {
    const w = window as unknown as { longest: number; longestParsed: number; fetched: string[]; posted: number };
    w.longest = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.longest = Math.max(w.longest, e.duration);
    }).observe({ type: 'longtask', buffered: true });
    w.longestParsed = 0;
    const parse = JSON.parse;
    JSON.parse = function (text: string, reviver?: Parameters<typeof JSON.parse>[1]) {
      w.longestParsed = Math.max(w.longestParsed, String(text).length);
      return parse(text, reviver);
    };
    w.fetched = [];
    const fetchHere = window.fetch;
    window.fetch = function (input: RequestInfo | URL, init?: RequestInit) {
      w.fetched.push(new URL(input instanceof Request ? input.url : input, document.baseURI).pathname);
      return fetchHere.call(this, input, init);
    };
    w.posted = 0;
    if (typeof Worker !== 'undefined') {
      const post = Worker.prototype.postMessage;
      Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker['postMessage']>) {
        w.posted++;
        return post.apply(this, args);
      } as Worker['postMessage'];
    }
  });
  await page.goto(t.gw.httpUrl);
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector('#trust-panel[data-source="server"]');
}

type Shown = { headline: string | null; rows: string[][]; revocation: string | null };

/** GET /v1/revocations answered with `body` (undefined: the gateway's own answer). */
async function listServed(body: string | undefined): Promise<void> {
  await page.unroute('**/v1/revocations*');
  if (body !== undefined) await page.route('**/v1/revocations*', (route) => route.fulfill({ status: 200, contentType: 'application/json', body }));
}

/** Drops the bundle, waits for the verdict; what it shows, and the page's longest task meanwhile (ms). */
async function verify(): Promise<Shown & { longestMs: number }> {
  await page.evaluate(() => ((window as unknown as { longest: number }).longest = 0));
  await page.evaluate(() => document.getElementById('verdict')?.remove());
  await dropFile(page, 'reading.cbor', bundle);
  await page.waitForSelector('#verdict', { timeout: 20_000 });
  const rows = await page.$$eval('#checks .check', (els) => els.map((e) => [e.getAttribute('data-check') ?? '', e.getAttribute('data-status') ?? '', e.querySelector('.code')?.textContent ?? '']));
  const longestMs = await page.evaluate(() => (window as unknown as { longest: number }).longest);
  return { headline: await page.textContent('#verdict .headline'), rows, revocation: await page.textContent('#checks [data-check="revocation"] .sentence'), longestMs };
}

/** The three lists (the gateway's, one it does not commit to, one far larger than it commits to): what the page shows for each. */
async function verifyEach(): Promise<{ shown: Record<string, Shown>; largeLongestMs: number }> {
  const shown: Record<string, Shown> = {};
  let largeLongestMs = 0;
  for (const [name, body] of [['real', undefined], ['tampered', tamperedBody], ['large', largeBody]] as const) {
    await listServed(body);
    const { longestMs, ...s } = await verify();
    shown[name] = s;
    if (name === 'large') largeLongestMs = longestMs;
  }
  return { shown, largeLongestMs };
}

const posted = () => page.evaluate(() => (window as unknown as { posted: number }).posted);
const closeBrowser = async () => {
  await browser!.close();
  browser = undefined;
};
/** The paths the page's thread fetched. */
const fetchedHere = () => page.evaluate(() => (window as unknown as { fetched: string[] }).fetched);
const longestParsed = () => page.evaluate(() => (window as unknown as { longestParsed: number }).longestParsed);

describe('the revocation list read in the verification worker (Chromium)', () => {
  test('the same verdicts with the list read in the worker, without Workers, and with the worker failing', async () => {
    const { inWorker, onPage, failed } = await verifyThreeWays({ open, verify: verifyEach, asked: posted, browser: () => browser!, close: closeBrowser });
    expect(inWorker.shown['real']!.headline).toMatch(/^VALID/);
    expect(inWorker.shown['real']!.revocation).toMatch(/none of the log's 3 revocation\(s\) up to checkpoint \d+ covers it/);
    expect(inWorker.shown['tampered']!.rows.find((r) => r[0] === 'revocation')).toEqual(['revocation', 'fail', 'CHECKPOINT_INVALID']);
    // More entries than the trusted checkpoint commits to: the list is not used, and the page says it could not be had.
    expect(inWorker.shown['large']!.headline).toMatch(/^VALID/);
    expect(inWorker.shown['large']!.revocation).toMatch(/^No revocation the record carries covers that time .*could not be had/);
    // No Worker in this browser, or the worker's script not to be had: the page reads the list itself, the same verdicts.
    expect(onPage.shown).toEqual(inWorker.shown);
    expect(failed.shown).toEqual(inWorker.shown);
  }, 120_000);

  test("a list of 16 MiB: fetched and parsed in the worker, never on the page's thread, which stays free", async () => {
    await open();
    await listServed(largeBody);
    const requested: string[] = [];
    page.on('request', (r) => requested.push(new URL(r.url()).pathname));
    const inWorker = await verify();
    const here = { fetched: await fetchedHere(), parsed: await longestParsed() };
    await browser!.close();
    browser = undefined;

    await open(() => void Reflect.deleteProperty(window, 'Worker'));
    await listServed(largeBody);
    const onPage = await verify();
    const withoutWorker = { fetched: await fetchedHere(), parsed: await longestParsed() };

    console.log(`longest task of the page while it verified with a ${largeBody.length}-byte list: worker ${inWorker.longestMs} ms, page's thread ${onPage.longestMs} ms`);
    expect(onPage.revocation).toBe(inWorker.revocation);
    // The list was asked for (by the worker), never by the page's thread, which parsed no text anywhere near its
    // size; without a worker the page's thread fetched and parsed it itself.
    expect(requested).toContain('/v1/revocations');
    expect(here.fetched).not.toContain('/v1/revocations');
    expect(here.parsed).toBeLessThan(largeBody.length / 100);
    expect(withoutWorker.fetched).toContain('/v1/revocations');
    expect(withoutWorker.parsed).toBe(largeBody.length);
    // Read on the page's thread, the list held it for well over 100 ms; with the worker the page's longest task is a
    // fraction of that (as for a bundle at the cap, test/web/verify-worker.test.ts: 0 ms alone, more with other suites
    // running on the two cores).
    expect(onPage.longestMs).toBeGreaterThan(100);
    expect(inWorker.longestMs).toBeLessThan(onPage.longestMs / 2);
  }, 90_000);
});
