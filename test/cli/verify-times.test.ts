/**
 * The built `originproof verify` (spawned, as users run it) and a bundle's times: the clock skew allowance is the
 * trust file's clockSkewSeconds unless --max-skew is given (README "Verify", Times); times no Date can hold (safe
 * integers past ±8.64e15 ms, which anyone can put in a bundle) are printed as numbers, with the verdict.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { encodeProofBundle, toBase64, type ProofBundle } from '../../protocol/index.js';
import { CP, ORIGIN, RECEIVED_MS, c, make, readingEntry, vkey } from '../verify/bundle-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'op-verify-times-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const RECEIVED_S = Math.floor(RECEIVED_MS / 1000);

let files = 0;
/** The bundle and a trust file (with `extra` fields) written to disk; `verify` run on them with `args`. */
function verifyCli(bundle: ProofBundle, extra: object, args: string[] = []): { code: number | null; stdout: string; stderr: string } {
  const n = files++;
  const bundlePath = join(dir, `b${n}.cbor`), trustPath = join(dir, `t${n}.json`);
  writeFileSync(bundlePath, encodeProofBundle(bundle));
  writeFileSync(trustPath, JSON.stringify({ roots: [{ certificate: toBase64(c.rootCert.bytes) }], checkpointKeys: [vkey(CP)], origin: ORIGIN, ...extra }));
  const r = spawnSync(process.execPath, ['dist/cli/main.js', 'verify', bundlePath, '--trust', trustPath, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const failed = (stdout: string): [string, string][] =>
  (JSON.parse(stdout) as { checks: { name: string; status: string; code?: string }[] }).checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code!]);

/** A bundle of one reading signed `ahead` seconds after the log received it. */
const aheadBy = async (ahead: number) => make({ entries: [await readingEntry({ claims: { iat: RECEIVED_S + ahead } })] });

describe('verify: the clock skew allowance', () => {
  test("without --max-skew, the trust file's clockSkewSeconds: 60 rejects a reading 200 s ahead (CLOCK_SKEW), 900 accepts one 400 s ahead", async () => {
    const r60 = verifyCli(await aheadBy(200), { clockSkewSeconds: 60 }, ['--json']);
    expect(r60.code, r60.stdout + r60.stderr).toBe(1);
    expect(failed(r60.stdout)).toEqual([['checkpoint', 'CLOCK_SKEW']]);
    const r900 = verifyCli(await aheadBy(400), { clockSkewSeconds: 900 }, ['--json']);
    expect(r900.code, r900.stdout + r900.stderr).toBe(0);
    expect(failed(r900.stdout)).toEqual([]);
  });

  test('without either, 300 s; --max-skew overrides the trust file both ways', async () => {
    const b400 = await aheadBy(400);
    const plain = verifyCli(b400, {}, ['--json']);
    expect(plain.code, plain.stdout + plain.stderr).toBe(1);
    expect(failed(plain.stdout)).toEqual([['checkpoint', 'CLOCK_SKEW']]);
    const narrowed = verifyCli(b400, { clockSkewSeconds: 900 }, ['--json', '--max-skew', '300']);
    expect(narrowed.code).toBe(1);
    expect(failed(narrowed.stdout)).toEqual([['checkpoint', 'CLOCK_SKEW']]);
    expect(verifyCli(await aheadBy(200), { clockSkewSeconds: 60 }, ['--max-skew', '300']).code).toBe(0);
  });
});

describe('verify: times beyond what Date can hold', () => {
  // receivedAtMs past 8.64e15 ms; a reading iat past 8.64e12 s. Each is invalid; the table must still be printed.
  const cases: [string, () => Promise<ProofBundle>, RegExp, [string, string][]][] = [
    ['receivedAtMs 9e15', async () => make({ entries: [await readingEntry({ receivedAtMs: 9e15 })] }), /, logged at index 0 9000000000000000 ms since 1970 \(out of range\)$/m,
      [['checkpoint', 'CHECKPOINT_INVALID']]],
    ['iat 9e12', async () => make({ entries: [await readingEntry({ claims: { iat: 9e12 } })] }), /, signed 9000000000000 s since 1970 \(out of range\), logged at index 0 2026-/m,
      [['chain', 'CERT_EXPIRED'], ['checkpoint', 'CLOCK_SKEW']]],
  ];
  test.each(cases)('%s: exit 1 with the verdict, the time printed as its number', async (_, bundle, record, codes) => {
    const b = await bundle();
    const table = verifyCli(b, {});
    expect(table.code, table.stdout + table.stderr).toBe(1);
    expect(table.stdout).toMatch(/^record {6}reading #1 of device /m);
    expect(table.stdout).toMatch(record);
    expect(table.stdout).toMatch(new RegExp(`^INVALID: ${codes.map(([n, k]) => `${n} ${k}`).join(', ')}$`, 'm'));
    const json = verifyCli(b, {}, ['--json']);
    expect(json.code).toBe(1);
    expect(failed(json.stdout)).toEqual(codes);
  });
});
