/**
 * `fetch-bundle` and a gateway that answers with a bundle other than the one asked for (found by review): it only
 * checked that the answer decodes as a bundle, so `--entry 0` answered with entry 1's bundle was written as
 * reading.cbor (exit 0), and `verify reading.cbor` then said VALID, exit 0, for a record the verifier never asked
 * about (the web page shows an entry number answered with another entry's bundle as INVALID). Likewise a bundle at
 * another tree size than `--tree-size`, one without the consistency proof `--since` asked for (verify --since then
 * failed CONSISTENCY_INVALID, blaming the log), and a CBOR answer to `--format json` (a bare JSON parse error, no
 * code). Each is now MALFORMED, exit 2, nothing written.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliSandbox } from './cli-sandbox.js';
import { encodeProofBundle, proofBundleToJson } from '../../protocol/bundle.js';
import { make, readingEntry } from '../verify/bundle-fixtures.js';

const { p, cliAsync } = cliSandbox('op-fb-answer-');

describe.concurrent('fetch-bundle: the answer must be the bundle asked for', () => {
  let server: Server;
  let url = '';
  beforeAll(async () => {
    // Whatever is asked: entry 1's bundle in a log of 2, at tree size 2, no consistency proof; CBOR unless /json/.
    const bundle = await make({ entries: [await readingEntry({ index: 0, seq: 1 }), await readingEntry({ index: 1, seq: 2 })], index: 1 });
    const cbor = encodeProofBundle(bundle);
    const json = JSON.stringify(proofBundleToJson(bundle));
    server = createServer((req, res) => {
      req.resume();
      if (req.url?.startsWith('/json/')) res.writeHead(200, { 'content-type': 'application/json' }).end(json);
      else res.writeHead(200, { 'content-type': 'application/cbor' }).end(cbor);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('the bundle asked for is written (exit 0)', async () => {
    const r = await cliAsync('fetch-bundle', '--gateway', url, '--entry', '1', '--out', p('one.cbor'));
    expect(r.code).toBe(0);
    expect(existsSync(p('one.cbor'))).toBe(true);
  });

  test.each([
    ['another entry', ['--entry', '0'], ''],
    ['another tree size than --tree-size', ['--entry', '1', '--tree-size', '5'], ''],
    ['no consistency proof from --since', ['--entry', '1', '--since', '1'], ''],
    ['CBOR for --format json', ['--entry', '1', '--format', 'json'], ''],
    ['the JSON view for --format cbor', ['--entry', '1'], 'json/'],
  ])('%s: MALFORMED (exit 2), nothing written', async (name, args, path) => {
    const out = p(`${name.replace(/\W+/g, '-')}.out`);
    const r = await cliAsync('fetch-bundle', '--gateway', `${url}/${path}`, ...args, '--out', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[MALFORMED\]/);
    expect(existsSync(out)).toBe(false);
  });
});
