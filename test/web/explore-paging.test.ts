/// <reference lib="dom" />
/**
 * The Explore view's device list is paged like GET /v1/agencies/:id/devices: a real gateway (port 0, temp dir)
 * serving the built page, an agency with more devices than one page, and Debian's Chromium driven by
 * playwright-core. The page is opened with `?devicePage=2` so that five devices make three pages; "Show more
 * devices" follows the gateway's x-next-after header until it is gone, and a page that fails (the browser offline)
 * leaves the devices already shown in place.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { browserAndGatewayHooks, launchChromium, type Browser } from './chromium.js';
import { en } from '../../web/i18n.js';
import { Pki, register, startTestGateway, type Device, type TestGateway } from '../gateway/harness.js';

const AGENCY = 'many.example';

let t: TestGateway;
let context: BrowserContext;
let page: Page;
let browser: Browser | undefined;
let devices: Device[];

const shownIds = () => page.$$eval(`.agency[data-agency="${AGENCY}"] tr.device`, (rows) => rows.map((r) => r.getAttribute('data-device')));
const ids = (n: number) => devices.slice(0, n).map((d) => d.id);
const more = `.agency[data-agency="${AGENCY}"] .more-devices`;

async function openExplore(query: string): Promise<void> {
  await page.goto(`${t.gw.httpUrl}/${query}#/explore`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector(`.agency[data-agency="${AGENCY}"] .show-devices`);
}

beforeAll(async () => {
  const pki = await Pki.create();
  t = await startTestGateway(pki, { writeRateLimit: 1000 });
  const agency = await pki.agency(AGENCY);
  devices = [];
  for (let i = 0; i < 5; i++) devices.push(await pki.device(agency));
  await register(t.gw, agency, devices);

  browser = await launchChromium();
  ({ context, page } = browser);
}, 60_000);

browserAndGatewayHooks(() => ({ browser, gateway: t }));

describe('Explore: an agency with more devices than one page (Chromium)', () => {
  test('"Show more devices" appends the next page until x-next-after is gone; a failed page keeps the devices shown', async () => {
    await openExplore('?devicePage=2');
    await page.click(`.agency[data-agency="${AGENCY}"] .show-devices`);
    await page.waitForSelector(more);
    expect(await shownIds()).toEqual(ids(2));
    expect(await page.textContent(more)).toBe(en['agency.more']);

    // The next page cannot be had: an error under the list, the two devices still there, the button to try again.
    await context.setOffline(true);
    try {
      await page.click(more);
      await page.waitForSelector(`.agency[data-agency="${AGENCY}"] .more-devices-error`);
      expect(await shownIds()).toEqual(ids(2));
      expect(await page.isEnabled(more)).toBe(true);
    } finally {
      await context.setOffline(false);
    }

    await page.click(more);
    await page.waitForFunction((n) => document.querySelectorAll('tr.device').length === n, 4);
    expect(await shownIds()).toEqual(ids(4));
    expect(await page.$(`.agency[data-agency="${AGENCY}"] .more-devices-error`)).toBeNull();

    await page.click(more);
    await page.waitForFunction((n) => document.querySelectorAll('tr.device').length === n, 5);
    expect(await shownIds()).toEqual(ids(5));
    expect(await page.$(more)).toBeNull(); // the last page carried no x-next-after
  });

  test('by default the page asks for 1000 devices at a time: five fit in one page, no button', async () => {
    await openExplore('');
    const asked = page.waitForRequest((r) => r.url().includes(`/v1/agencies/${AGENCY}/devices`));
    await page.click(`.agency[data-agency="${AGENCY}"] .show-devices`);
    expect(new URL((await asked).url()).searchParams.get('limit')).toBe('1000');
    await page.waitForFunction((n) => document.querySelectorAll('tr.device').length === n, 5);
    expect(await shownIds()).toEqual(ids(5));
    expect(await page.$(more)).toBeNull();
  });
});
