/**
 * Review (offline verification, the court's view): a bundle's producer chooses which revocations it carries, and no
 * signature binds them to it. A bundle of a revoked device stripped of its revocation still verifies (README
 * "Verifiers": only the log's list, `--revocation-log`, makes the check complete), but its verdict said "revocation
 * PASS: no revocation covers the device or its agency", as if that were proven. It now says what was weighed and that
 * it is not complete; with the log's list it says up to which tree size it is.
 */
import { describe, expect, test } from 'vitest';
import { EMPTY_REVOCATIONS, commitRevocations, createRevocation, revocationsExtension, signCheckpoint, type Verdict } from '../../protocol/index.js';
import { referenceRoot } from '../../protocol/merkle/reference.js';
import { verifyBundle } from '../../protocol/verify-bundle.js';
import { DAY, NOW } from '../protocol/fixtures.js';
import { CP, ORIGIN, c, fails, make, readingEntry, trustWith } from './bundle-fixtures.js';

const revocationCheck = (v: Verdict) => v.checks.find((x) => x.name === 'revocation')!;

describe('a revocation left out of a bundle: the verdict does not say none exists', () => {
  test('the device revoked from before the reading: CERT_REVOKED with the statement; stripped, passing but not complete', async () => {
    const entries = [await readingEntry()];
    const statement = await createRevocation(c.agency, c.deviceCert, { reason: 'decommissioned', revokedFrom: NOW - DAY, iat: NOW - DAY });
    const trust = trustWith();
    // The gateway's bundle carries it; so does a verifier that holds it.
    expect(fails(verifyBundle(await make({ entries, revocations: [statement] }), trust))).toEqual([['revocation', 'CERT_REVOKED']]);
    const stripped = await make({ entries });
    expect(fails(verifyBundle(stripped, trust, { revocations: [statement] }))).toEqual([['revocation', 'CERT_REVOKED']]);
    // Stripped, with nothing else: nothing here can tell (documented), but the check must not claim more than it saw.
    const v = verifyBundle(stripped, trust);
    expect(v.valid).toBe(true);
    expect(revocationCheck(v).message).not.toMatch(/^no revocation covers the device or its agency$/);
    expect(revocationCheck(v).message).toMatch(/not complete: .*the bundle's producer chooses which it carries/);
    // With the log's list, committed to by a checkpoint of the bundle's tree: the statement is found (CERT_REVOKED).
    const listed = async (revocations: { index: number; statement: Uint8Array }[]) => ({
      checkpoint: await signCheckpoint({ origin: ORIGIN, size: 2, root: referenceRoot([...entries, new Uint8Array([1])]), extensions: [revocationsExtension(revocations.length ? commitRevocations(revocations) : EMPTY_REVOCATIONS)] }, CP),
      revocations,
    });
    const twoEntries = [...entries, new Uint8Array([1])];
    const ofTwo = await make({ entries: twoEntries, block: { first: 0, last: 1 } });
    expect(fails(verifyBundle(ofTwo, trust, { revocationLog: await listed([{ index: 1, statement }]) }))).toEqual([['revocation', 'CERT_REVOKED']]);
  });

  test('with the log list: complete up to its tree size, and no "not complete"', async () => {
    const entries = [await readingEntry()];
    const b = await make({ entries });
    const list = {
      checkpoint: await signCheckpoint({ origin: ORIGIN, size: 1, root: referenceRoot(entries), extensions: [revocationsExtension(EMPTY_REVOCATIONS)] }, CP),
      revocations: [],
    };
    const v = verifyBundle(b, trustWith(), { revocationLog: list });
    expect(fails(v)).toEqual([]);
    expect(revocationCheck(v).message).toMatch(/complete up to tree size 1: the log's 0 revocation\(s\) below it/);
    expect(revocationCheck(v).message).not.toMatch(/not complete/);
  });
});
