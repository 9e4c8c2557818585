/**
 * Hex options (`cert device --nonce/--firmware`, `keys prove --nonce`): one that is not hex is a bad option, exit 2
 * with `[MALFORMED]` naming it (its path), as the CLI's numeric options are (cli/options.ts). Found walking README:
 * `--nonce zz` printed the hex library's own words ("hex string expected, got non-hex character ...") with no code
 * and no option named, so a script or a user could not tell which option was wrong.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateKeys, proveKey } from '../../cli/commands/keys.js';
import { certAgency, certDevice, certRoot } from '../../cli/commands/cert.js';
import { exitCodeFor } from '../../cli/failure.js';

const NOW = 1_767_225_600;
const NONCE = '07'.repeat(16);
const FW = 'ab'.repeat(32);
const dir = mkdtempSync(join(tmpdir(), 'op-hex-options-'));
const p = (n: string) => join(dir, n);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The exit code the CLI gives what `fn` throws, with the error's code and path. */
async function failureOf(fn: () => Promise<unknown>): Promise<[number, unknown, unknown]> {
  try {
    await fn();
    return [0, undefined, undefined];
  } catch (err) {
    const e = err as { code?: unknown; path?: unknown };
    return [exitCodeFor(err), e.code, e.path];
  }
}

describe('hex options that are not hex: exit 2, MALFORMED, the option named', () => {
  let devKey = '';
  let device: (o: { nonce?: string; firmware?: string }) => () => Promise<unknown>;
  beforeAll(async () => {
    const root = generateKeys({ alg: 'ed25519', out: p('k/root') });
    const agency = generateKeys({ alg: 'es256', out: p('k/agency') });
    const dev = generateKeys({ alg: 'ed25519', out: p('k/dev') });
    devKey = dev.keyPath;
    await certRoot({ key: root.keyPath, id: 'root.example', days: 3650, out: p('root.cert'), now: NOW });
    await certAgency({ issuerKey: root.keyPath, issuerCert: p('root.cert'), subjectKey: agency.pubPath, id: 'psb.example', days: 365, out: p('agency.cert'), now: NOW });
    await proveKey({ key: devKey, agency: 'psb.example', nonce: NONCE, out: p('good.pop'), now: NOW });
    let n = 0;
    device = (o) => () =>
      certDevice({
        issuerKey: agency.keyPath, issuerCert: p('agency.cert'), subjectKey: dev.pubPath, pop: p('good.pop'), nonce: o.nonce ?? NONCE,
        kind: 'temperature-sensor', types: 'temperature', firmware: o.firmware ?? FW, days: 365, out: p(`dev${++n}.cert`), now: NOW,
      });
  });

  test('the same options in hex: done', async () => {
    expect(await failureOf(device({}))).toEqual([0, undefined, undefined]);
    expect(await failureOf(device({ nonce: NONCE.toUpperCase(), firmware: FW.toUpperCase() }))).toEqual([0, undefined, undefined]);
  });

  test('cert device --nonce', async () => {
    for (const nonce of ['zz'.repeat(16), `${NONCE}0`, `0x${NONCE}`, `${NONCE} `]) {
      expect(await failureOf(device({ nonce }))).toEqual([2, 'MALFORMED', 'nonce']);
    }
  });

  test('cert device --firmware', async () => {
    for (const firmware of ['zz'.repeat(32), `${FW}0`, `sha256:${FW}`]) {
      expect(await failureOf(device({ firmware }))).toEqual([2, 'MALFORMED', 'firmware']);
    }
  });

  test('keys prove --nonce', async () => {
    let n = 0;
    for (const nonce of ['zz'.repeat(16), `${NONCE}0`]) {
      expect(await failureOf(() => proveKey({ key: devKey, agency: 'psb.example', nonce, out: p(`bad${++n}.pop`), now: NOW }))).toEqual([2, 'MALFORMED', 'nonce']);
    }
  });
});
