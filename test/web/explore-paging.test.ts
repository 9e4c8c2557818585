/// <reference lib="dom" />
/**
 * The Explore view's device list is paged like GET /v1/agencies/:id/devices: a real gateway (port 0, temp dir)
 * serving the built page, an agency with more devices than one page, and Debian's Chromium driven by
 * playwright-core. The page is opened with `?devicePage=2` so that five devices make three pages; "Show more
 * devices" follows the gateway's x-next-after header until it is gone, and a page that fails (the browser offline)
 * leaves the devices already shown in place.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { en } from '../../web/i18n.js';
import { Pki, register, startTestGateway, type Device, type TestGateway } from '../gateway/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const AGENCY = 'many.example';

let t: TestGateway;
let context: BrowserContext;
let page: Page;
let profileDir: string;
let devices: Device[];
const pageErrors: string[] = [];

const shownIds = () => page.$$eval(`.agency[data-agency="${AGENCY}"] tr.device`, (rows) => rows.map((r) => r.getAttribute('data-device')));
const ids = (n: number) => devices.slice(0, n).map((d) => d.id);
const more = `.agency[data-agency="${AGENCY}"] .more-devices`;

async function openExplore(query: string): Promise<void> {
  await page.goto(`${t.gw.httpUrl}/${query}#/explore`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector(`.agency[data-agency="${AGENCY}"] .show-devices`);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it)`);
  const pki = await Pki.create();
  t = await startTestGateway(pki, { writeRateLimit: 1000 });
  const agency = await pki.agency(AGENCY);
  devices = [];
  for (let i = 0; i < 5; i++) devices.push(await pki.device(agency));
  await register(t.gw, agency, devices);

  profileDir = await mkdtemp(join(tmpdir(), 'op-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    locale: 'en-US',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(5_000);
  page.on('pageerror', (err) => pageErrors.push(String(err)));
}, 60_000);

afterEach(() => {
  expect(pageErrors).toEqual([]);
});

afterAll(async () => {
  await context?.close();
  await t?.stop();
  if (profileDir) await rm(profileDir, { recursive: true, force: true });
});

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
