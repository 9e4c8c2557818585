/// <reference lib="dom" />
/**
 * The service worker's install (web/sw.js, as the build writes it) keeps the page only if the gateway answered it: a real gateway
 * (port 0, temp dir) serving the built page and Debian's Chromium driven by playwright-core, the worker's own request
 * for the page answered 503 with context.route (a gateway restarting for an upgrade, say). Found by the web review:
 * the install stored the 503 answer as the page, and the page opened offline was that error, not the verifier.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { browserAndGatewayHooks, launchChromium, type Browser } from './chromium.js';
import { Pki, startTestGateway, type TestGateway } from '../gateway/harness.js';

let t: TestGateway;
let browser: Browser | undefined;

beforeAll(async () => {
  t = await startTestGateway(await Pki.create());
  browser = await launchChromium();
}, 60_000);

browserAndGatewayHooks(() => ({ browser, gateway: t }));

describe('service worker install (Chromium)', () => {
  test("the worker's request for the page answered 503: not kept as the page; the next visit keeps the page, which then opens offline", async () => {
    const { context, page } = browser!;
    let refused = 0;
    await context.route(`${t.gw.httpUrl}/`, (route) => {
      if (!route.request().serviceWorker()) return route.continue();
      refused++;
      return route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ code: 'UNAVAILABLE', message: 'restarting' }) });
    });
    await page.goto(t.gw.httpUrl);
    await page.waitForSelector('body[data-ready="true"]');
    await expect.poll(() => refused, { timeout: 5_000 }).toBeGreaterThan(0);
    await page.waitForTimeout(500);
    const cached = await page.evaluate(async () => {
      const hit = await caches.match(new URL('./', location.href).href);
      return hit ? hit.status : null;
    });
    expect(cached).not.toBe(503);

    // The next visit with the gateway answering: the install is tried again and keeps the page; offline it opens.
    await context.unrouteAll({ behavior: 'ignoreErrors' });
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    // `ready` resolves once a worker is active, possibly still 'activating' (its cache cleanup): wait for 'activated'.
    await expect.poll(() => page.evaluate(() => navigator.serviceWorker.ready.then((r) => r.active?.state)), { timeout: 5_000 }).toBe('activated');
    await context.setOffline(true);
    try {
      const res = await page.reload();
      expect([res?.fromServiceWorker(), res?.status()]).toEqual([true, 200]);
      await page.waitForSelector('body[data-ready="true"]');
    } finally {
      await context.setOffline(false);
    }
  });
});
