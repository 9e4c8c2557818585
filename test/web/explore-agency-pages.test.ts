/// <reference lib="dom" />
/**
 * The Explore view lists every agency although GET /v1/agencies is paged: it reads the pages in turn while the
 * gateway's x-next-after says more follow. A real gateway (port 0, temp dir) serving the built page, with four
 * agencies; the browser's requests for the listing are sent on with `limit=1` added, so that they make four pages.
 */
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { browserAndGatewayHooks, launchChromium, type Browser } from './chromium.js';
import { Pki, post, startTestGateway, type TestGateway } from '../gateway/harness.js';
import { toBase64 } from '../../protocol/index.js';

const AGENCIES = ['m.example', 'b.example', 'z.example', 'a.example'];

let t: TestGateway;
let page: Page;
let browser: Browser | undefined;

beforeAll(async () => {
  const pki = await Pki.create();
  t = await startTestGateway(pki, { writeRateLimit: 1000 });
  for (const id of AGENCIES) expect((await post(t.gw, '/v1/agencies', { certificate: toBase64((await pki.agency(id)).cert.bytes) })).status).toBe(201);
  browser = await launchChromium();
  ({ page } = browser);
}, 60_000);

browserAndGatewayHooks(() => ({ browser, gateway: t }));

describe('Explore: more agencies than one page of GET /v1/agencies (Chromium)', () => {
  test('every agency is shown, in registration order, from four pages of one', async () => {
    const asked: string[] = [];
    await page.route('**/v1/agencies*', (route) => {
      const url = new URL(route.request().url());
      if (url.pathname !== '/v1/agencies') return route.continue();
      url.searchParams.set('limit', '1');
      asked.push(url.search);
      return route.continue({ url: url.toString() });
    });
    await page.goto(`${t.gw.httpUrl}/#/explore`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.waitForSelector(`.agency[data-agency="${AGENCIES[AGENCIES.length - 1]}"]`);
    expect(await page.$$eval('.agency', (els) => els.map((e) => e.getAttribute('data-agency')))).toEqual(AGENCIES);
    expect(asked).toEqual(['?limit=1', ...AGENCIES.slice(0, -1).map((id) => `?after=${id}&limit=1`)]);
  });

  test('a gateway whose pages never end, or do not advance: "Could not load", after at most 100 pages', async () => {
    for (const advancing of [true, false]) {
      let served = 0;
      await page.unrouteAll();
      await page.route('**/v1/agencies*', (route) => {
        const url = new URL(route.request().url());
        if (url.pathname !== '/v1/agencies') return route.continue();
        const id = `a${advancing ? served : 0}.example`;
        served++;
        return route.fulfill({ status: 200, contentType: 'application/json', headers: { 'x-next-after': id }, body: JSON.stringify([{ id, devices: 0, revoked: false }]) });
      });
      await page.goto('about:blank');
      await page.goto(`${t.gw.httpUrl}/#/explore`);
      await page.waitForSelector('body[data-ready="true"]');
      await page.waitForSelector('#explore-view .error', { timeout: 10_000 }).catch(async (err: unknown) => {
        throw new Error(`${(err as Error).message}; served ${served}; view: ${await page.textContent('#explore-view')}`);
      });
      expect(await page.textContent('#explore-view .error')).toMatch(/^Could not load: MALFORMED/);
      expect(served).toBe(advancing ? 100 : 2);
    }
    await page.unrouteAll();
  });
});
