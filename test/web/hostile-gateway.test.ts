/// <reference lib="dom" />
/**
 * The verifier page against a gateway that stalls or floods, and files too large to be bundles: a real gateway
 * (port 0, temp dir) serving the built page, Debian's Chromium driven by playwright-core, the gateway's answers held
 * back or replaced with page.route, and the page's clock moved on with page.clock. Found by the web review: a
 * gateway that never answered GET /v1/revocations (or a consistency proof, or an entry's bundle) left the page on
 * "Verifying…" for good, even for a dropped file, which needs no network; a 40 MB file of repeated certificates
 * froze the tab for ~11 s before its verdict. Each request now has a time limit and a size limit, and a bundle
 * over MAX_BUNDLE_BYTES is refused TOO_LARGE without being read.
 */
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { decodeProofBundle, encodeProofBundle, toHex } from '../../protocol/index.js';
import { sharedChromium, type Browser, dropFile as dropFileOn } from './chromium.js';
import { en } from '../../web/i18n.js';
import { GATEWAY_TIMEOUT_MS } from '../../web/storage.js';
import { MAX_BUNDLE_BYTES } from '../../web/verification.js';
import { connectDevice, Pki, reading, register, startTestGateway, type TestGateway } from '../gateway/harness.js';

let t: TestGateway;
let page: Page;
let browser: Browser | undefined;
let index: number;
let bundle: Uint8Array;
let keptNote: string;

const dropFile = (name: string, bytes: Uint8Array) => dropFileOn(page, name, bytes);
const chromium = sharedChromium();

/**
 * A fresh browser context on the page (one Chromium for the file), with requests matching each of `stalled` never answered (a gateway that accepted the
 * connection and stalls) and the page's clock under the test's control (it runs on until fastForward moves it on).
 * Returns, per pattern, a promise that resolves once the first such request arrives (rejects if none has within 15 s).
 * The routes are set before the clock is installed: page.route called with the clock installed never returned.
 */
async function openPage(stalled: string[] = []): Promise<Promise<void>[]> {
  browser = await chromium.open();
  ({ page } = browser);
  const arrivals: Promise<void>[] = [];
  for (const pattern of stalled) {
    let arrived!: () => void;
    const held = new Promise<void>((resolve, reject) => {
      arrived = resolve;
      setTimeout(() => reject(new Error(`the page did not ask for ${pattern}`)), 15_000);
    });
    held.catch(() => undefined);
    await page.route(pattern, () => arrived());
    arrivals.push(held);
  }
  await page.clock.install();
  await page.goto(t.gw.httpUrl);
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector('#trust-panel[data-source="server"]');
  return arrivals;
}

/** Type an entry number and press Enter. */
async function enterEntry(n: number): Promise<void> {
  await page.fill('#entry-input', String(n));
  await page.click('#entry-go');
}

beforeAll(async () => {
  const pki = await Pki.create();
  t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5 });
  const psb = await pki.agency('psb.example');
  const sensor = await pki.device(psb, { kind: 'temperature-sensor', types: ['temperature'] });
  await register(t.gw, psb, [sensor]);
  const c = await connectDevice(t.gw, sensor);
  await c.publish(await reading(sensor, 1));
  const first = await c.next();
  await c.publish(await reading(sensor, 2));
  const a = await c.next();
  await c.end();
  if (first.kind !== 'receipt' || a.kind !== 'receipt') throw new Error('expected receipts');
  keptNote = first.receipt.checkpoint;
  index = a.receipt.index;
  bundle = new Uint8Array(await (await fetch(`${t.gw.httpUrl}/v1/entries/${index}/bundle`)).arrayBuffer());
}, 60_000);

afterEach(async () => {
  const errors = browser?.pageErrors;
  await browser?.close();
  browser = undefined;
  expect(errors ?? []).toEqual([]);
});

afterAll(async () => {
  await t?.stop();
});

describe('a gateway that never answers (Chromium)', () => {
  test('the revocation list and the kept checkpoint\'s proof never come: past the time limit the dropped file still gets its verdict, both said unavailable', async () => {
    const [revocations, proof] = await openPage(['**/v1/revocations*', '**/v1/proofs/consistency*']);
    await page.setInputFiles('#kept input[type=file]', { name: 'checkpoint.txt', mimeType: 'text/plain', buffer: Buffer.from(keptNote) });
    await page.waitForSelector('#kept-state[data-size]:not([data-size=""])');
    await dropFile('reading.cbor', bundle);
    await proof;
    await page.clock.fastForward(GATEWAY_TIMEOUT_MS + 1000);
    await revocations;
    await page.clock.fastForward(GATEWAY_TIMEOUT_MS + 1000);
    await page.waitForSelector('#verdict', { timeout: 5_000 });
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('true');
    expect(await page.getAttribute('#checks [data-check="consistency"]', 'data-status')).toBe('skip');
    expect(await page.textContent('#checks [data-check="consistency"] .sentence')).toBe(en['skip.consistency.unavailable']);
    expect(await page.textContent('#checks [data-check="revocation"] .sentence')).toMatch(/^No revocation the record carries covers that time .*could not be had/);
  });

  test("an entry's bundle never comes: past the time limit the page says it could not be fetched", async () => {
    const [held] = await openPage([`**/v1/entries/${index}/bundle*`]);
    await enterEntry(index);
    await held;
    await page.clock.fastForward(GATEWAY_TIMEOUT_MS + 1000);
    await page.waitForSelector('#notice', { timeout: 5_000 });
    expect(await page.textContent('#notice')).toContain(`The bundle of entry ${index} could not be fetched`);
    expect(await page.$('#busy')).toBeNull();
  });
});

describe("a gateway's error text (Chromium)", () => {
  test("an entry's error answer with a right-to-left override: shown escaped, as the CLI shows it", async () => {
    await openPage();
    await page.route(`**/v1/entries/${index}/bundle*`, (route) =>
      route.fulfill({ status: 404, contentType: 'application/json', body: JSON.stringify({ code: 'NOT_FOUND', message: 'no entry \u202eDILAV' }) }));
    await enterEntry(index);
    await page.waitForSelector('#notice');
    const notice = await page.textContent('#notice');
    expect(notice).toContain('NOT_FOUND: no entry \\u{202e}DILAV');
    expect(notice).not.toContain('\u202e');
  });
});

describe('names from a trust file or a dropped file (Chromium)', () => {
  test('a root named with a right-to-left override in the trust file, and a dropped file named with one: both shown escaped', async () => {
    await openPage();
    const own = { roots: [{ name: 'root\u202eelpmaxe', alg: 'EdDSA', publicKey: toHex(t.pki.root.signer.publicKey) }], checkpointKeys: [{ key: t.gw.checkpointVerifierKey }], origin: 'originproof.local/log' };
    await page.setInputFiles('#trust-panel input[type=file]', { name: 'mine\u202enosj.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(own)) });
    await page.waitForSelector('#trust-panel[data-source="file"]');
    await dropFile('reading\u202ecbor.exe', bundle);
    await page.waitForSelector('#verdict');
    const shown = [await page.textContent('#trust-roots tbody td'), await page.textContent('#trust-panel .note'), await page.textContent('#verdict .source')];
    expect(shown).toEqual(['root\\u{202e}elpmaxe', 'From your trust file mine\\u{202e}nosj.json.', 'Bundle file reading\\u{202e}cbor.exe']);
  });
});

describe('a gateway that pages its revocation list without end (Chromium)', () => {
  test("one-entry pages under a tree size and count of a trillion, with the log's real checkpoint: the page stops at what that checkpoint commits to, and says the list could not be had", async () => {
    const real = (await (await fetch(`${t.gw.httpUrl}/v1/revocations`)).json()) as { checkpoint: string };
    const huge = 1e12;
    let pages = 0;
    await openPage();
    await page.route('**/v1/revocations*', (route) => {
      pages++;
      const after = Number(new URL(route.request().url()).searchParams.get('after') ?? -1);
      const index = after + 1;
      return route.fulfill({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({ treeSize: huge, checkpoint: real.checkpoint, count: huge, revocations: [{ index, revocation: 'oA==' }], next: index }),
      });
    });
    await dropFile('reading.cbor', bundle);
    await page.waitForSelector('#verdict', { timeout: 10_000 });
    // The log's checkpoint commits to no revocation: the first page's one entry is already more than it holds.
    expect(pages).toBeLessThanOrEqual(2);
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('true');
    expect(await page.textContent('#checks [data-check="revocation"] .sentence')).toMatch(/^No revocation the record carries covers that time .*could not be had/);
  });
});

describe("Explore with a gateway's answers of the wrong shape (Chromium)", () => {
  test('agencies that are no list: the view says it could not load them, the page keeps working', async () => {
    await openPage();
    await page.route('**/v1/agencies', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ agencies: 'none' }) }));
    await page.click('#tab-explore');
    await page.waitForSelector('#explore-view .error', { timeout: 5_000 });
    expect(await page.textContent('#explore-view .error')).toMatch(/^Could not load: /);
    await page.click('#tab-verify');
    await page.waitForSelector('#verify-view');
  });

  test('a device whose id is "constructor" (an Object.prototype key) and "../../trust": listed, its readings asked for at its own path', async () => {
    await openPage();
    const ids = ['constructor', '../../trust'];
    const asked: string[] = [];
    await page.route('**/v1/agencies', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify([{ id: 'psb.example', devices: 2, revoked: false }]) }));
    await page.route('**/v1/agencies/psb.example/devices*', (route) => route.fulfill({
      status: 200, contentType: 'application/json',
      body: JSON.stringify(ids.map((deviceId) => ({ deviceId, status: 'active', notBefore: 0, notAfter: 2e9, profile: { kind: 'temperature-sensor' } }))),
    }));
    page.on('request', (r) => { if (!r.url().includes('/v1/agencies')) asked.push(new URL(r.url()).pathname); });
    await page.click('#tab-explore');
    await page.click('.agency[data-agency="psb.example"] .show-devices');
    await page.waitForSelector('tr.device[data-device="constructor"]');
    expect(await page.$$eval('tr.device', (rows) => rows.map((r) => r.getAttribute('data-device')))).toEqual(ids);
    for (const id of ids) {
      await page.click(`tr.device[data-device="${id}"] .show-readings`);
      await page.waitForFunction((d) => Array.from(document.querySelectorAll('tr.device')).find((r) => r.getAttribute('data-device') === d)?.nextElementSibling?.querySelector('.error, .note, table.readings'), id);
    }
    expect(asked.filter((p) => p.startsWith('/v1/devices/') || p.startsWith('/trust/'))).toEqual(ids.map((id) => `/v1/devices/${encodeURIComponent(id)}/latest`));
  });
});

describe('too large to be a bundle (Chromium)', () => {
  test('a dropped file over MAX_BUNDLE_BYTES (the size of a bundle with 100,000 repeated certificates) is refused TOO_LARGE, unread', async () => {
    await openPage();
    const b = decodeProofBundle(bundle);
    const huge = encodeProofBundle({ ...b, certificates: Array.from({ length: 100_000 }, (_, i) => b.certificates[i % b.certificates.length]!) });
    expect(huge.length).toBeGreaterThan(MAX_BUNDLE_BYTES);
    // A file of that size built in the page (its bytes do not matter: the page must not read them), and the page's
    // reads of dropped files counted.
    await page.evaluate(({ n }) => {
      (window as unknown as { readCalls: number }).readCalls = 0;
      const read = File.prototype.arrayBuffer;
      File.prototype.arrayBuffer = function (this: File) {
        (window as unknown as { readCalls: number }).readCalls++;
        return read.call(this);
      };
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(n)], 'huge.cbor'));
      return (window as unknown as { dt: DataTransfer }).dt = dt;
    }, { n: huge.length });
    await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: await page.evaluateHandle(() => (window as unknown as { dt: DataTransfer }).dt) });
    await page.waitForSelector('#verdict[data-unusable="TOO_LARGE"]', { timeout: 3_000 });
    expect(await page.textContent('#verdict .source')).toBe('Bundle file huge.cbor');
    expect(await page.evaluate(() => (window as unknown as { readCalls: number }).readCalls)).toBe(0);
  });

  test("the gateway answers an entry with more than MAX_BUNDLE_BYTES: not read whole, the page says why", async () => {
    await openPage();
    await page.route(`**/v1/entries/${index}/bundle*`, (route) => route.fulfill({ status: 200, contentType: 'application/cbor', body: Buffer.alloc(MAX_BUNDLE_BYTES + 1) }));
    await enterEntry(index);
    await page.waitForSelector('#notice');
    expect(await page.textContent('#notice')).toContain('TOO_LARGE');
  });
});
