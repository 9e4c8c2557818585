/// <reference lib="dom" />
/**
 * The page told whether the server's trust anchors could not be had (no answer) or the server answered a trust file
 * that is not valid: a real gateway (port 0, temp dir) serving the built page, Debian's Chromium driven by
 * playwright-core, the gateway's GET /v1/trust answered with page.route (a broken trust file, or the connection
 * refused). Found by the review: a trust file that failed to parse was reported "could not be fetched", as if the
 * server were down; now the page says the server answered and its file is not valid, with the parser's error code
 * (protocol/trust.ts parseTrustText), with or without the saved copy of the server's earlier anchors.
 */
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { OriginProofError } from '../../protocol/errors.js';
import { parseTrustText } from '../../protocol/trust.js';
import { codeMeaning } from '../../web/format.js';
import { translate } from '../../web/i18n.js';
import { browserPerTestHooks, sharedChromium, type Browser } from './chromium.js';
import { Pki, startTestGateway, type TestGateway } from '../gateway/harness.js';

let t: TestGateway;
let browser: Browser | undefined;
let page: Page;

/** Trust files a server might answer that protocol/'s parser refuses, with the code it refuses each with. */
const BROKEN: { name: string; body: string }[] = [
  { name: 'not JSON (cut short)', body: '{"roots": [' },
  { name: 'JSON of the wrong shape', body: JSON.stringify({ roots: 'none', checkpointKeys: [] }) },
];
/** protocol/'s parser on `text`: the code and message it refuses it with. */
function parserError(text: string): { code: string; message: string } {
  try {
    parseTrustText(text);
  } catch (err) {
    if (err instanceof OriginProofError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('the parser took it');
}

/** The trust panel's source line: where the anchors come from, or why there are none. */
async function sourceLine(source: 'server' | 'none'): Promise<{ problem: string | null; code: string | null; text: string | null }> {
  const el = await page.waitForSelector(`#trust-panel[data-source="${source}"] #trust-source`);
  return { problem: await el.getAttribute('data-problem'), code: await el.getAttribute('data-code'), text: await el.textContent() };
}

/** GET /v1/trust answered `status` (200 unless said) with `body`, or (null) the connection refused. */
async function trustAnswer(body: string | null, status = 200): Promise<void> {
  await page.unrouteAll({ behavior: 'wait' });
  await page.route('**/v1/trust', (route) => (body === null ? route.abort('connectionrefused') : route.fulfill({ status, contentType: 'application/json', body })));
}

async function open(): Promise<void> {
  await page.goto(t.gw.httpUrl);
  await page.waitForSelector('body[data-ready="true"]');
}

beforeAll(async () => {
  t = await startTestGateway(await Pki.create());
}, 60_000);

const chromium = sharedChromium(); // one launch for the file, a fresh context per test (no saved copy carried over)
browserPerTestHooks(() => { const closing = browser; browser = undefined; return closing; }, () => t); // closed after each test

describe("the server's trust file not valid vs the server not answering (Chromium)", () => {
  test('no saved copy: a broken trust file is "not valid" with the parser\'s code; a refused connection is "could not be fetched"', async () => {
    browser = await chromium.open();
    ({ page } = browser);
    for (const broken of BROKEN) {
      const { code, message } = parserError(broken.body);
      await trustAnswer(broken.body);
      await open();
      expect([broken.name, await sourceLine('none')]).toEqual([broken.name, { problem: 'invalid', code, text: translate('en', 'trust.serverInvalid', { code, meaning: codeMeaning('en', code) }) }]);
      // The parser's own words under "Technical detail".
      expect(await page.textContent('#trust-panel details code.detail')).toBe(message);
    }
    await trustAnswer(null);
    await open();
    const line = await sourceLine('none');
    expect([line.problem, line.code]).toEqual(['unreachable', '']);
    const [before, after] = translate('en', 'trust.fetchFailed').split('{reason}');
    expect([line.text?.startsWith(before!), line.text?.endsWith(after!)]).toEqual([true, true]);
    expect(await page.$('#trust-panel details')).toBeNull();
    // An error answer: "could not be fetched", naming the gateway's code and message, not only the status.
    await trustAnswer(JSON.stringify({ code: 'UNAVAILABLE', message: 'the store is closing' }), 503);
    await open();
    const refused = await sourceLine('none');
    expect([refused.problem, refused.code]).toEqual(['unreachable', '']);
    expect(refused.text).toContain('HTTP 503: UNAVAILABLE: the store is closing');
  });

  test("with the saved copy of the server's anchors: used, and the line says which of the two it is", async () => {
    browser = await chromium.open();
    ({ page } = browser);
    await open();
    expect(await sourceLine('server')).toEqual({ problem: '', code: '', text: translate('en', 'trust.source.server') });

    const { code } = parserError(BROKEN[0]!.body);
    await trustAnswer(BROKEN[0]!.body);
    await open();
    const invalid = await sourceLine('server');
    expect([invalid.problem, invalid.code]).toEqual(['invalid', code]);
    expect(invalid.text).toContain(`the server answers now, but its trust file is not valid: ${code}: ${codeMeaning('en', code)}`);
    expect(await page.$$('#trust-roots tr[data-root]')).toHaveLength(1); // the saved anchors are shown and used

    await trustAnswer(null);
    await open();
    const down = await sourceLine('server');
    expect([down.problem, down.code]).toEqual(['unreachable', '']);
    expect(down.text).toContain('(the server cannot be reached now)');
  });
});
