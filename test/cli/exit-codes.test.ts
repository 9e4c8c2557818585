/**
 * Exit codes as README promises them: 0 done, 1 a check ran and said no, 2 no verdict (found by review): usage
 * errors were commander's exit 1 ("invalid"); a trust file with no root made every genuine bundle INVALID; a time
 * option that is not a number (`cert verify --at 2027-01-01`) was NaN, which passed every validity comparison and
 * answered VALID for a revoked chain; `ledger verify --key` with a bad key reported a bad ledger.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import { cliSandbox } from './cli-sandbox.js';
import { encodeProofBundle, toBase64 } from '../../protocol/index.js';
import { generateKeys, proveKey } from '../../cli/commands/keys.js';
import { certAgency, certDevice, certRevoke, certRoot } from '../../cli/commands/cert.js';
import { CP, ORIGIN, c, make, readingEntry, vkey } from '../verify/bundle-fixtures.js';
import { Ledger } from '../../ledger/ledger.js';
import { signer } from '../ledger/contract.js';

const { p, cliAsync } = cliSandbox('op-exit-codes-');
const NOW = 1_767_225_600;
const FW = 'ab'.repeat(32);

describe('exit codes', () => {
  // (each test's runs are independent of one another: they run side by side)
  test('a usage error (a required option or argument missing, an unknown option) is exit 2, not 1 ("invalid")', async () => {
    writeFileSync(p('any.cbor'), '');
    const [noTrust, unknownOption, noArgument] = await Promise.all([
      cliAsync('verify', p('any.cbor')),
      cliAsync('verify', p('any.cbor'), '--trust', p('t.json'), '--jsn'),
      cliAsync('cert', 'verify', '--root', p('root.cert')),
    ]);
    expect(noTrust.out).toMatch(/required option '--trust/);
    expect(noTrust.code).toBe(2);
    expect(unknownOption.code).toBe(2);
    expect(noArgument.code).toBe(2);
  });

  test('verify with a trust file whose "roots" is misspelled (no root at all) is unusable input, exit 2, not INVALID', async () => {
    const bundle = await make({ entries: [await readingEntry()] });
    writeFileSync(p('good.cbor'), encodeProofBundle(bundle));
    const roots = [{ certificate: toBase64(c.rootCert.bytes) }];
    writeFileSync(p('trust-ok.json'), JSON.stringify({ roots, checkpointKeys: [vkey(CP)], origin: ORIGIN }));
    writeFileSync(p('trust-typo.json'), JSON.stringify({ root: roots, checkpointKeys: [vkey(CP)], origin: ORIGIN }));
    const [ok, r] = await Promise.all([cliAsync('verify', p('good.cbor'), '--trust', p('trust-ok.json')), cliAsync('verify', p('good.cbor'), '--trust', p('trust-typo.json'))]);
    expect(ok.code).toBe(0); // the bundle is valid
    expect(r.code, r.out).toBe(2);
  });
});

describe('cert', () => {
  beforeAll(async () => {
    const root = generateKeys({ alg: 'ed25519', out: p('k/root') });
    const agency = generateKeys({ alg: 'es256', out: p('k/agency') });
    const dev = generateKeys({ alg: 'ed25519', out: p('k/dev') });
    await certRoot({ key: root.keyPath, id: 'root.example', days: 3650, out: p('root.cert'), now: NOW });
    await certAgency({ issuerKey: root.keyPath, issuerCert: p('root.cert'), subjectKey: agency.pubPath, id: 'psb.example', days: 365, out: p('agency.cert'), now: NOW });
    await proveKey({ key: dev.keyPath, agency: 'psb.example', out: p('dev.pop'), now: NOW });
    await certDevice({
      issuerKey: agency.keyPath, issuerCert: p('agency.cert'), subjectKey: dev.pubPath, pop: p('dev.pop'), kind: 'temperature-sensor', types: 'temperature', firmware: FW,
      days: 365, out: p('dev.cert'), now: NOW,
    });
    await certRevoke({ issuerKey: agency.keyPath, cert: p('dev.cert'), reason: 'keyCompromise', from: NOW + 100, out: p('dev.rev'), now: NOW + 200 });
  });

  test('cert verify --at that is not a number is refused, not VALID for a revoked chain (cli/options.ts)', async () => {
    const chain = ['--root', p('root.cert'), p('dev.cert'), p('agency.cert'), '--revocation', p('dev.rev')];
    const [revoked, date] = await Promise.all([cliAsync('cert', 'verify', ...chain, '--at', String(NOW + 150)), cliAsync('cert', 'verify', ...chain, '--at', '2026-06-01')]);
    expect(revoked.code).toBe(1); // revoked then: CERT_REVOKED
    expect(date.out).not.toMatch(/"valid": true/);
    expect(date.code).toBe(2);
  });

  test('a time in milliseconds is refused (MALFORMED, exit 2), not taken as seconds near year 57,000 (cli/options.ts)', async () => {
    const ms = String(NOW * 1000);
    const chain = ['--root', p('root.cert'), p('dev.cert'), p('agency.cert')];
    const [revoke, atMs, at9999] = await Promise.all([
      cliAsync('cert', 'revoke', '--issuer-key', p('k/agency.key'), '--cert', p('dev.cert'), '--reason', 'decommissioned', '--from', ms, '--now', String(NOW), '--out', p('ms.rev')),
      cliAsync('cert', 'verify', ...chain, '--at', ms),
      cliAsync('cert', 'verify', ...chain, '--at', '253402300799'),
    ]);
    expect(revoke.out).toMatch(/\[MALFORMED\]/);
    expect(revoke.code).toBe(2);
    expect(existsSync(p('ms.rev'))).toBe(false);
    expect(atMs.code).toBe(2);
    expect(at9999.code).toBe(1); // year 9999: taken, the chain expired
  });
});

describe('ledger verify', () => {
  test('a --key that is not a verifier key is unusable input (exit 2), not a bad ledger (exit 1)', async () => {
    const ledger = await Ledger.open({ dir: p('ledger'), origin: ORIGIN, signer });
    await ledger.close();
    const r = await cliAsync('ledger', 'verify', '--data', p('ledger'), '--key', 'bogus');
    expect(r.out).not.toMatch(/BAD/);
    expect(r.code).toBe(2);
  });
});
