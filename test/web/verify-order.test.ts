/// <reference lib="dom" />
/**
 * What the Verify view shows when things happen while a verification waits on the network (the log's revocation
 * list, an entry's bundle) or while the page still fetches the server's trust anchors: a real gateway (port 0, temp
 * dir) serving the built page, Debian's Chromium driven by playwright-core, and the gateway's answers held back with
 * page.route until the test lets them go. The page must show the verdict of what the verifier gave it last, checked
 * with the trust anchors it shows: never an earlier file's verdict, never one checked with anchors it replaced.
 */
import type { Page, Route } from 'playwright-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { formatVerifierKey, toBase64 } from '../../protocol/index.js';
import { browserAndGatewayHooks, launchChromium, type Browser, dropFile as dropFileOn } from './chromium.js';
import type { TestGateway } from '../gateway/harness.js';
import { gatewayWithOneReading } from './one-reading-gateway.js';

let t: TestGateway;
let page: Page;
let browser: Browser | undefined;
let index: number;
let bundle: Uint8Array;

/** Hold the page's requests matching `pattern` until `release()`; `held` resolves once the first arrives. */
async function hold(pattern: string): Promise<{ held: Promise<void>; release: () => Promise<void> }> {
  let arrived!: () => void;
  const held = new Promise<void>((r) => (arrived = r));
  const waiting: Route[] = [];
  let released = false;
  await page.route(pattern, async (route) => {
    if (released) return route.continue();
    waiting.push(route);
    arrived();
  });
  return {
    held,
    async release() {
      released = true;
      for (const r of waiting.splice(0)) await r.continue();
      await page.unroute(pattern);
    },
  };
}

/** A file dropped on the Verify view (chromium.ts dropFile). */
const dropFile = (name: string, bytes: Uint8Array) => dropFileOn(page, name, bytes);

/** Time for a released answer to reach the page and for whatever it sets off to render. */
const settle = () => page.waitForTimeout(500);

/** Open the page afresh: nothing kept in the browser from the test before (a trust file, a checkpoint). */
async function openPage(): Promise<void> {
  if (page.url().startsWith(t.gw.httpUrl)) await page.evaluate(() => localStorage.clear());
  await page.goto(t.gw.httpUrl);
  await page.waitForSelector('body[data-ready="true"]');
}

beforeAll(async () => {
  ({ t, index, bundle } = await gatewayWithOneReading());

  browser = await launchChromium();
  ({ page } = browser);
}, 60_000);

browserAndGatewayHooks(() => ({ browser, gateway: t }));

describe('the Verify view shows the last thing given, checked with the anchors shown (Chromium)', () => {
  test('two quick drops: a valid bundle still waiting on the revocation list, then a file that is no bundle: the second stays shown', async () => {
    await openPage();
    const revs = await hold('**/v1/revocations*');
    await dropFile('first.cbor', bundle);
    await revs.held;
    await dropFile('second.cbor', new TextEncoder().encode('not a bundle'));
    await page.waitForSelector('#verdict[data-unusable="MALFORMED"]');
    await revs.release();
    await settle();
    expect(await page.getAttribute('#verdict', 'data-unusable')).toBe('MALFORMED');
    expect(await page.textContent('#verdict .source')).toBe('Bundle file second.cbor');
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('false');
  });

  test("an entry number whose bundle is still on its way, then a dropped file: the file's outcome stays shown", async () => {
    await openPage();
    const entry = await hold(`**/v1/entries/${index}/bundle*`);
    await page.fill('#entry-input', String(index));
    await page.click('#entry-go');
    await entry.held;
    await dropFile('dropped.cbor', new TextEncoder().encode('not a bundle'));
    await page.waitForSelector('#verdict[data-unusable="MALFORMED"]');
    await entry.release();
    await settle();
    expect(await page.textContent('#verdict .source')).toBe('Bundle file dropped.cbor');
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('false');
  });

  test("the verifier's own trust file loaded while a bundle is being verified with the server's anchors: no VALID from the server's key", async () => {
    await openPage();
    const wrongKey = formatVerifierKey('originproof.local/log', new Uint8Array(32).fill(3));
    const own = { roots: [{ certificate: toBase64(t.pki.root.cert.bytes) }], checkpointKeys: [{ key: wrongKey }], origin: 'originproof.local/log' };
    const revs = await hold('**/v1/revocations*');
    await dropFile('reading.cbor', bundle);
    await revs.held;
    await page.setInputFiles('#trust-panel input[type=file]', { name: 'mine.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(own)) });
    await page.waitForSelector('#trust-panel[data-source="file"]');
    await revs.release();
    await settle();
    // Checked with the verifier's own file, the bundle's checkpoint is signed by a key it does not hold.
    await page.waitForSelector('#verdict');
    expect(await page.$('#busy')).toBeNull();
    expect(await page.textContent('#verdict .source')).toBe('Bundle file reading.cbor');
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('false');
    expect(await page.getAttribute('#checks [data-check="checkpoint"]', 'data-status')).toBe('fail');
    expect(await page.textContent('#checks [data-check="checkpoint"] .code')).toBe('CHECKPOINT_INVALID');
  });

  test("the verifier's own trust file loaded while the server's anchors are still on their way: the file stays in use", async () => {
    await openPage();
    await page.evaluate(() => localStorage.clear());
    const trust = await hold('**/v1/trust');
    await page.goto(t.gw.httpUrl);
    await trust.held;
    await page.waitForSelector('#trust-panel[data-source="loading"]');
    const wrongKey = formatVerifierKey('originproof.local/log', new Uint8Array(32).fill(3));
    const own = { roots: [{ certificate: toBase64(t.pki.root.cert.bytes) }], checkpointKeys: [{ key: wrongKey }], origin: 'originproof.local/log' };
    await page.setInputFiles('#trust-panel input[type=file]', { name: 'mine.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(own)) });
    await page.waitForSelector('#trust-panel[data-source="file"]');
    await trust.release();
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.getAttribute('#trust-panel', 'data-source')).toBe('file');
    await dropFile('reading.cbor', bundle);
    await page.waitForSelector('#verdict');
    expect(await page.textContent('#checks [data-check="checkpoint"] .code')).toBe('CHECKPOINT_INVALID');
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('false');
  });
});
