/// <reference lib="dom" />
/**
 * The verifier web page end to end: a real gateway (port 0, temp dir) serving the built page, real devices
 * publishing over MQTT, and Debian's Chromium driven by playwright-core. The page verifies in the browser with
 * protocol/; these tests check what a person sees: every check green, a tampered bundle red with its code, a
 * bundle with times no Date can hold still given its verdict, a revoked device's later reading failing, the verifier's own trust file, offline verification, Explore, and the
 * language switch. Screenshots of each state go to test/artifacts/ (not committed).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  decodeLogEntry, decodeProofBundle, encodeLogEntry, encodeProofBundle, formatVerifierKey, keyThumbprint, proofBundleToJson, sha256, toBase64, toHex,
  utf8ToBytes,
} from '../../protocol/index.js';
import { launchChromium, type Browser, dropFile as dropFileOn } from './chromium.js';
import { createRevocation } from '../../protocol/revocation.js';
import { en, translate, zh } from '../../web/i18n.js';
import { groupHex } from '../../web/format.js';
import { connectDevice, nowS, Pki, pubOf, reading, register, revoke, startTestGateway, type ConnectedDevice, type Device, type TestGateway } from '../gateway/harness.js';

const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const CHECKS = ['signature', 'chain', 'revocation', 'claims', 'inclusion', 'checkpoint', 'consistency'];

let t: TestGateway;
let context: BrowserContext;
let page: Page;
let browser: Browser | undefined;
let sensor: Device;
let psb: Awaited<ReturnType<Pki['agency']>>;
let conn: ConnectedDevice;
const idx = { sensor1: 0, bio: 0, revokedBefore: 0, revokedAfter: 0 };

async function published(c: ConnectedDevice, bytes: Uint8Array): Promise<number> {
  await c.publish(bytes);
  const a = await c.next();
  if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a.rejection)}`);
  return a.receipt.index;
}

async function bundleBytes(index: number, query = ''): Promise<Uint8Array> {
  const res = await fetch(`${t.gw.httpUrl}/v1/entries/${index}/bundle${query}`);
  expect(res.status).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

/** The check rows as [name, status, code] once a verdict is shown. */
async function checkRows(): Promise<string[][]> {
  await page.waitForSelector('#verdict');
  return page.$$eval('#checks .check', (els) => els.map((e) => [e.getAttribute('data-check') ?? '', e.getAttribute('data-status') ?? '', e.querySelector('.code')?.textContent ?? '']));
}

async function verifyEntry(text: string): Promise<void> {
  await page.fill('#entry-input', text);
  await page.click('#entry-go');
  await page.waitForSelector('#verdict');
}

/** A file dropped on the Verify view (chromium.ts dropFile). */
const dropFile = (name: string, bytes: Uint8Array) => dropFileOn(page, name, bytes);

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  const pki = await Pki.create();
  t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5 });
  psb = await pki.agency('psb.example');
  sensor = await pki.device(psb, { kind: 'temperature-sensor', types: ['temperature'] });
  const reader = await pki.device(psb, { kind: 'fingerprint-reader', types: ['biometric'] });
  const lost = await pki.device(psb, { kind: 'temperature-sensor', types: ['temperature'] });
  await register(t.gw, psb, [sensor, reader, lost]);

  conn = await connectDevice(t.gw, sensor);
  idx.sensor1 = await published(conn, await reading(sensor, 1));
  const r = await connectDevice(t.gw, reader);
  const body = { kind: 'biometric' as const, purpose: 'identity-check-counter-3', result: 'match' as const, score: 930, subjectCommitment: sha256(utf8ToBytes('salt-of-the-agency|subject-17')) };
  idx.bio = await published(r, await reading(reader, 1, { body }));
  await r.end();
  // A device whose key was compromised from `from` on: its reading before stays valid, the one after does not.
  const from = nowS() - 10;
  const l = await connectDevice(t.gw, lost);
  idx.revokedBefore = await published(l, await reading(lost, 1, { iat: from - 20 }));
  idx.revokedAfter = await published(l, await reading(lost, 2, { iat: from + 5 }));
  await l.end();
  expect((await revoke(t.gw, psb, lost.cert, from)).status).toBe(201);
  // One rejected reading for the Explore view's counts: a value changed after signing.
  const forged = await reading(sensor, 9);
  forged[forged.length - 1]! ^= 0xff;
  await conn.publish(forged);
  expect((await conn.next()).kind).toBe('rejection');

  browser = await launchChromium({ viewport: { width: 1100, height: 900 } });
  ({ context, page } = browser);
  await page.goto(t.gw.httpUrl);
  await page.waitForSelector('body[data-ready="true"]');
}, 60_000);

afterEach(() => {
  expect(browser?.pageErrors).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await conn?.end();
  await t?.stop();
});

describe('verifier web page (Chromium)', () => {
  test('shows the trust anchors it uses, with fingerprints', async () => {
    expect(await page.getAttribute('#trust-panel', 'data-source')).toBe('server');
    const fp = groupHex(toHex(keyThumbprint(pubOf(t.pki.root.signer))));
    expect(await page.textContent('#trust-roots tr[data-root="root.example"] .fp')).toBe(fp);
    const keyId = t.gw.checkpointVerifierKey.split('+')[1]!;
    expect(await page.textContent(`#trust-keys tr[data-key="${keyId}"] td`)).toBe('originproof.local/log');
  });

  test('an entry number: every check green, the reading in words; its checkpoint can be kept', async () => {
    await verifyEntry(String(idx.sensor1));
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('true');
    const rows = await checkRows();
    expect(rows.map((r) => r[0])).toEqual(CHECKS);
    expect(rows.filter((r) => r[1] === 'pass').map((r) => r[0])).toEqual(CHECKS.slice(0, 6));
    expect(rows[6]).toEqual(['consistency', 'skip', '']); // nothing kept yet
    expect(await page.textContent('#record-reading')).toBe('Temperature: 21.6 °C');
    expect(await page.textContent('#checks [data-check="signature"] .sentence')).toBe(`Signed by device ${sensor.id} of agency psb.example.`);
    expect(await page.textContent('#checks [data-check="checkpoint"] .sentence')).toMatch(/^Included in checkpoint \d+, signed by gateway originproof\.local\/log \([0-9a-f]{8}\)\.$/);
    // the log's revocation list fetched and proven by its checkpoint: "not revoked" is complete up to it
    expect(await page.textContent('#checks [data-check="revocation"] .sentence')).toMatch(/^Not revoked at that time \(.*\): none of the log's \d+ revocation\(s\) up to checkpoint \d+ covers it\.$/);
    await shot('1-valid-entry');
    await page.click('#keep-checkpoint');
    expect(Number(await page.getAttribute('#kept-state', 'data-size'))).toBeGreaterThan(idx.sensor1);
  });

  test('a dropped bundle verifies offline: all seven checks green, the log only grew since the kept checkpoint', async () => {
    const kept = Number(await page.getAttribute('#kept-state', 'data-size'));
    const later = await published(conn, await reading(sensor, 2));
    const bytes = await bundleBytes(later, `?since=${kept}`);
    expect(await page.evaluate(() => navigator.serviceWorker.ready.then((r) => r.active?.state))).toBe('activated');
    await context.setOffline(true);
    try {
      await page.waitForSelector('#offline:not([hidden])');
      await dropFile(`entry-${later}.cbor`, bytes);
      await page.waitForSelector(`#verdict .source:text("Bundle file entry-${later}.cbor")`);
      const rows = await checkRows();
      expect(rows).toEqual(CHECKS.map((c) => [c, 'pass', '']));
      expect(await page.textContent('#checks [data-check="consistency"] .sentence')).toContain(`(size ${kept} to ${decodeProofBundle(bytes).treeSize})`);
      // offline: only the bundle's own revocations were seen, and the page says so
      expect(await page.textContent('#checks [data-check="revocation"] .sentence')).toMatch(/^No revocation the record carries covers that time .*cannot be fetched while offline/);
      await shot('2-dropped-bundle-offline-all-green');

      // Opened again without a network: the service worker serves the page, the saved anchors verify.
      const res = await page.reload();
      expect(res?.fromServiceWorker()).toBe(true);
      await page.waitForSelector('body[data-ready="true"]');
      expect(await page.textContent('#trust-panel .note')).toContain('saved in this browser');
      await dropFile(`entry-${later}.cbor`, bytes);
      await page.waitForSelector('#verdict');
      expect(await page.getAttribute('#verdict', 'data-valid')).toBe('true');
      await shot('2b-reopened-offline');
    } finally {
      await context.setOffline(false);
    }
    // Back online, the page fetches the server's anchors again instead of its saved copy.
    await page.waitForFunction(() => !document.querySelector('#trust-panel .note')?.textContent?.includes('saved in this browser'));
  });

  test('a pasted entry link; a biometric event in words, never raw', async () => {
    await verifyEntry(`${t.gw.httpUrl}/#/entry/${idx.bio}`);
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('true');
    expect(await page.textContent('#record-reading')).toBe('identity check at counter 3: match, score 0.93');
    await shot('3-biometric-link');
  });

  test('an entry number answered with the bundle of another entry: INVALID for the number asked, never VALID, no link', async () => {
    const asked = 424242;
    const real = await bundleBytes(idx.sensor1);
    const pattern = `**/v1/entries/${asked}/bundle*`;
    // A lying gateway: entry `asked` answered with entry sensor1's genuine bundle.
    await page.route(pattern, (route) => route.fulfill({ status: 200, contentType: 'application/cbor', body: Buffer.from(real) }));
    try {
      await verifyEntry(String(asked));
      expect(await page.getAttribute('#verdict', 'data-valid')).toBe('false');
      expect(await page.getAttribute('#verdict', 'data-wrong-entry')).toBe(String(idx.sensor1));
      expect(await page.textContent('#verdict .source')).toBe(translate('en', 'verify.sourceEntry', { index: asked }));
      expect(await page.textContent('#verdict-headline')).toBe(translate('en', 'verify.wrongEntry', { requested: asked, got: idx.sensor1 }));
      expect(await page.$('#record-link')).toBeNull();
      expect(await page.$('#checks')).toBeNull();
      expect(await page.$('#keep-checkpoint')).toBeNull();
      await shot('3b-wrong-entry');
      await page.click('#lang-switch');
      expect(await page.textContent('#verdict-headline')).toBe(translate('zh', 'verify.wrongEntry', { requested: asked, got: idx.sensor1 }));
      await page.click('#lang-switch');
    } finally {
      await page.unroute(pattern);
    }
    // The entry itself: the source line and the shareable link name the entry the bundle proves.
    await verifyEntry(String(idx.sensor1));
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('true');
    expect(await page.textContent('#verdict .source')).toContain(translate('en', 'verify.sourceEntry', { index: idx.sensor1 }));
    expect(await page.getAttribute('#record-link', 'href')).toBe(`${t.gw.httpUrl}/#/entry/${idx.sensor1}`);
    // The gateway's clock skew allowance (GET /v1/trust), which its bundles are verified with, is shown.
    expect(await page.getAttribute('#trust-skew', 'data-seconds')).toBe('300');
  });

  test('a tampered bundle: the signature check red with BAD_SIGNATURE', async () => {
    const b = decodeProofBundle(await bundleBytes(idx.sensor1));
    const e = decodeLogEntry(b.entry);
    const payload = Uint8Array.from(e.payload);
    payload[payload.length - 1]! ^= 0x01; // one bit of the device's signature
    const tampered = encodeProofBundle({ ...b, entry: encodeLogEntry({ ...e, payload }) });
    await page.setInputFiles('#bundle-file', { name: 'tampered.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(proofBundleToJson(decodeProofBundle(tampered)))) });
    await page.waitForSelector('#verdict .source:text("Bundle file tampered.json")');
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('false');
    const rows = await checkRows();
    expect(rows[0]).toEqual(['signature', 'fail', 'BAD_SIGNATURE']);
    expect(rows.find((r) => r[0] === 'inclusion')).toEqual(['inclusion', 'fail', 'INCLUSION_INVALID']);
    const red = await page.$eval('#checks [data-check="signature"]', (el) => [getComputedStyle(el).borderLeftColor, getComputedStyle(el.querySelector('.code')!).color]);
    expect(red).toEqual(['rgb(198, 40, 40)', 'rgb(198, 40, 40)']);
    expect(await page.textContent('#verdict-headline')).toBe('INVALID: Signature BAD_SIGNATURE; In the log INCLUSION_INVALID');
    await shot('4-tampered-bundle');
  });

  test("text a bundle carries (a revocation's subject) is shown escaped: a bidi override cannot reorder the detail line", async () => {
    // A revocation naming no certificate of the record, its subject "evil<RLO>elpmaxe.bsp" (shown as evilpsb.example
    // were the override applied): CLAIM_INVALID, and the detail quotes the subject with the override written out.
    const b = decodeProofBundle(await bundleBytes(idx.sensor1));
    const other = { ...sensor.cert, certRef: new Uint8Array(32).fill(7), claims: { ...sensor.cert.claims, sub: 'evil\u202eelpmaxe.bsp' } };
    const rev = await createRevocation(psb.signer, other, { reason: 'keyCompromise', revokedFrom: nowS(), iat: nowS() });
    await dropFile('rlo.cbor', encodeProofBundle({ ...b, revocations: [rev] }));
    await page.waitForSelector('#verdict .source:text("Bundle file rlo.cbor")');
    expect((await checkRows()).find((r) => r[0] === 'revocation')).toEqual(['revocation', 'fail', 'CLAIM_INVALID']);
    const detailText = await page.textContent('#checks [data-check="revocation"] .detail');
    expect(detailText).toContain('evil\\u{202e}elpmaxe.bsp');
    expect(detailText).not.toContain('\u202e');
  });

  // format.ts formatTime: a bundle may carry times no Date can hold; the page still shows its verdict.
  test('a bundle whose times Date cannot hold (receivedAt 9e15 ms, a reading signed at 9e12 s): INVALID, the times shown as numbers', async () => {
    const b = decodeProofBundle(await bundleBytes(idx.sensor1));
    const e = decodeLogEntry(b.entry);
    const late = encodeProofBundle({ ...b, entry: encodeLogEntry({ ...e, receivedAtMs: 9e15 }) });
    await dropFile('late.cbor', late);
    await page.waitForSelector('#verdict .source:text("Bundle file late.cbor")');
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('false');
    expect((await checkRows()).find((r) => r[0] === 'checkpoint')).toEqual(['checkpoint', 'fail', 'CHECKPOINT_INVALID']);
    expect(await page.textContent('#record-logged-at')).toBe('9000000000000000 ms since 1970 (out of range)');
    await shot('4b-time-out-of-range');

    const farIat = encodeProofBundle({ ...b, entry: encodeLogEntry({ ...e, payload: await reading(sensor, 1, { iat: 9e12 }) }) });
    await dropFile('far-iat.cbor', farIat);
    await page.waitForSelector('#verdict .source:text("Bundle file far-iat.cbor")');
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('false');
    expect((await checkRows()).find((r) => r[0] === 'checkpoint')).toEqual(['checkpoint', 'fail', 'CLOCK_SKEW']);
    expect(await page.textContent('#record-signed-at')).toBe('9000000000000000 ms since 1970 (out of range)');
  });

  test("a revoked device: its reading after the revocation's start fails, the one before still verifies", async () => {
    await verifyEntry(String(idx.revokedAfter));
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('false');
    const rows = await checkRows();
    expect(rows.filter((r) => r[1] === 'fail')).toEqual([['revocation', 'fail', 'CERT_REVOKED']]);
    expect(await page.textContent('#checks [data-check="revocation"] .sentence')).toBe(`Failed: ${en['code.CERT_REVOKED']}`);
    await shot('5-revoked-device-later-reading');
    await verifyEntry(String(idx.revokedBefore));
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('true');
  });

  test("the verifier's own trust file replaces the server's: a gateway key it does not hold fails the checkpoint", async () => {
    const other = { roots: [{ certificate: toBase64(t.pki.root.cert.bytes) }], checkpointKeys: [{ key: 'other.example/log+5b2f1a4c+AQdPY0RyVIMXS+muPChYkxRYUTKzuQX58HjjwlIn8fw3' }], origin: 'originproof.local/log' };
    // The key ID above does not match its key: the page refuses the file and keeps what it had.
    await page.setInputFiles('#trust-panel input[type=file]', { name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(other)) });
    await page.waitForSelector('#trust-error');
    expect(await page.textContent('#trust-error')).toContain('CHECKPOINT_INVALID');
    expect(await page.getAttribute('#trust-panel', 'data-source')).toBe('server');

    const wrongKey = formatVerifierKey('other.example/log', new Uint8Array(32).fill(3));
    await page.setInputFiles('#trust-panel input[type=file]', { name: 'mine.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ ...other, checkpointKeys: [{ key: wrongKey }] })) });
    await page.waitForSelector('#trust-panel[data-source="file"]');
    expect(await page.textContent('#trust-panel')).toContain('From your trust file mine.json.');
    await verifyEntry(String(idx.sensor1));
    const rows = await checkRows();
    expect(rows.find((r) => r[0] === 'checkpoint')).toEqual(['checkpoint', 'fail', 'CHECKPOINT_INVALID']);
    await shot('6-own-trust-file-wrong-gateway-key');

    const good = { ...other, checkpointKeys: [{ key: t.gw.checkpointVerifierKey }] };
    await page.setInputFiles('#trust-panel input[type=file]', { name: 'mine.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(good)) });
    await verifyEntry(String(idx.sensor1));
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('true');
    await page.click('#trust-panel button:text("Use the server\'s anchors")');
    await page.waitForSelector('#trust-panel[data-source="server"]');
  });

  test('Explore: agencies, devices with status, latest readings with a Verify button, rejections by code', async () => {
    await page.click('#tab-explore');
    await page.waitForSelector('.agency[data-agency="psb.example"]');
    expect(await page.textContent('#explore-log')).toMatch(/^Log originproof\.local\/log: \d+ entries in \d+ blocks\.$/);
    expect(await page.textContent('#rejections .rejection[data-code="BAD_SIGNATURE"] .count')).toBe('1');
    await page.click('.agency[data-agency="psb.example"] .show-devices');
    await page.waitForSelector(`tr.device[data-device="${sensor.id}"]`);
    expect(await page.$$eval('tr.device', (rows) => rows.map((r) => r.getAttribute('data-status')).sort())).toEqual(['active', 'active', 'revoked']);
    expect(await page.textContent('tr.device[data-status="revoked"]')).toContain('revoked since');
    await page.click(`tr.device[data-device="${sensor.id}"] .show-readings`);
    await page.waitForSelector(`table.readings[data-device="${sensor.id}"] tr[data-entry]`);
    expect(await page.$$eval(`table.readings[data-device="${sensor.id}"] tr[data-entry] td:nth-child(2)`, (c) => c.map((x) => x.textContent))).toEqual(['2', '1']);
    await shot('7-explore');
    await page.click(`table.readings tr[data-entry="${idx.sensor1}"] .verify-entry`);
    await page.waitForSelector('#verdict');
    expect(await page.getAttribute('#verdict', 'data-valid')).toBe('true');
  });

  test('the language switch turns the whole page to Chinese and back', async () => {
    expect(await page.textContent('#app-title')).toBe(en['app.title']);
    await page.click('#lang-switch');
    expect(await page.textContent('#app-title')).toBe(zh['app.title']);
    expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
    expect(await page.textContent('#verdict-headline')).toBe(zh['verdict.valid']);
    expect(await page.textContent('#checks [data-check="revocation"] strong')).toBe(zh['check.revocation']);
    expect(await page.textContent('#record-reading')).toBe('温度：21.6 °C');
    expect(await page.textContent('#tab-explore')).toBe(zh['tab.explore']);
    // No English words left in the visible text (data such as ids, codes and units aside).
    const visible = await page.evaluate(() => document.body.innerText);
    const zhTexts = new Set(Object.values(zh));
    const englishUi = Object.values(en).filter((s) => !s.includes('{') && /[a-z]{4}/.test(s) && !zhTexts.has(s));
    expect(englishUi.filter((s) => visible.includes(s))).toEqual([]);
    await shot('8-chinese');
    await page.click('#lang-switch');
    expect(await page.textContent('#app-title')).toBe(en['app.title']);
  });

  // The consistency proof against the kept checkpoint answered 503 (the gateway's store recovering, say): not a
  // refusal, so the record is not failed on it; a refusal (404) still fails it.
  test('the kept checkpoint\'s proof answered 503: consistency not checked, said so, VALID; answered 404: CONSISTENCY_INVALID', async () => {
    const kept = Number(await page.getAttribute('#kept-state', 'data-size'));
    const later = await published(conn, await reading(sensor, 10));
    expect(later).toBeGreaterThanOrEqual(kept);
    const pattern = '**/v1/proofs/consistency*';
    let asked = 0;
    const answer = (status: number) => page.route(pattern, (route) => {
      asked++;
      return route.fulfill({ status, contentType: 'application/json', body: JSON.stringify({ code: status === 503 ? 'STORAGE_UNAVAILABLE' : 'NOT_FOUND', message: 'test' }) });
    });
    await answer(503);
    try {
      await verifyEntry(String(later));
      expect(asked).toBeGreaterThan(0);
      expect(await page.getAttribute('#verdict', 'data-valid')).toBe('true');
      expect((await checkRows())[6]).toEqual(['consistency', 'skip', '']);
      expect(await page.textContent('#checks [data-check="consistency"] .sentence')).toBe(en['skip.consistency.unavailable']);
      await page.unroute(pattern);
      await answer(404);
      await verifyEntry(String(idx.bio)); // another entry, so that the verdict shown is this one's
      await page.waitForSelector('#verdict[data-valid="false"]');
      expect((await checkRows())[6]).toEqual(['consistency', 'fail', 'CONSISTENCY_INVALID']);
    } finally {
      await page.unroute(pattern);
    }
  });
});
