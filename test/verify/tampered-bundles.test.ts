/**
 * Bundles made from protocol functions (a root -> agency -> device chain, a small log, a checkpoint signed by a key
 * the trust material holds), each tampered in one field and re-signed where needed, so that exactly the check under
 * test fails with its code. Also a receipt whose checkpoint does not cover its entry.
 */
import { describe, expect, test } from 'vitest';
import {
  CT_READING, ENTRY_READING, ENTRY_REVOCATION, createRevocation, createSign1, decodeCertificate, deviceIdFromKey, encode, encodeLogEntry,
  issueCertificate, keyThumbprint, leafHash, readingClaimsToMap, signReading, verifyReceipt,
  type DecodedCertificate, type ProofBundle, type ReadingClaims,
} from '../../protocol/index.js';
import { ed25519NoteSigner, signCheckpoint } from '../../protocol/checkpoint.js';
import { verifyBundle } from '../../protocol/verify-bundle.js';
import { ALG_EDDSA, DAY, FIRMWARE, NOW, codeOf, kidOf, pubOf, seedKey, sensorClaims, signerFor } from '../protocol/fixtures.js';
import { BLOCK_MS, CP, ORIGIN, RECEIVED_MS, badSignature, c, fails, make, readingEntry, trustWith, vkey } from './bundle-fixtures.js';

const CP2 = ed25519NoteSigner(ORIGIN, seedKey('checkpoint 2'));
const window = { iat: NOW - DAY, nbf: NOW - DAY, exp: NOW + 365 * DAY };
const profile = { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE };

/** A device revocation entry by the agency, of `revoked` (checked against the agency certificate). */
async function revocationBundle(revoked: DecodedCertificate): Promise<ProofBundle> {
  const payload = await createRevocation(c.agency, revoked, { reason: 'keyCompromise', revokedFrom: NOW, iat: NOW });
  const entry = encodeLogEntry({ type: ENTRY_REVOCATION, index: 0, receivedAtMs: RECEIVED_MS, payload, certRef: c.agencyCert.certRef });
  return make({ entries: [entry], certificates: [revoked.bytes, c.agencyCert.bytes] });
}

describe('tampered bundles fail the check under test', () => {
  test('baselines: the untampered reading and revocation bundles verify', async () => {
    expect(fails(verifyBundle(await make({ entries: [await readingEntry()] }), trustWith()))).toEqual([]);
    expect(verifyBundle(await make({ entries: [await readingEntry()] }), trustWith()).valid).toBe(true);
    expect(verifyBundle(await revocationBundle(c.deviceCert), trustWith()).valid).toBe(true);
  });

  // verify-reading.ts 'claims': a log (a lying gateway's) holding a reading its certificate does not allow. Found by
  // mutation testing: with either comparison removed (mutants VR5, VR6) every verifier test still passed.
  test('a logged reading of firmware or a type the device certificate does not certify: FIRMWARE_MISMATCH, TYPE_NOT_ALLOWED', async () => {
    const otherFirmware = FIRMWARE.slice();
    otherFirmware[0]! ^= 1;
    const firmware = await make({ entries: [await readingEntry({ claims: { firmware: otherFirmware } })] });
    expect(fails(verifyBundle(firmware, trustWith()))).toEqual([['claims', 'FIRMWARE_MISMATCH']]);
    const type = await make({ entries: [await readingEntry({ claims: { body: { kind: 'sensor', type: 'pressure', value: 1013, scale: 0, unit: 'hPa' } } })] });
    expect(fails(verifyBundle(type, trustWith()))).toEqual([['claims', 'TYPE_NOT_ALLOWED']]);
  });

  // verify-bundle.ts: the entry's certRef must name the bundle's device certificate, not another one for the same key.
  test('another certificate for the same device key than the entry names: CHAIN_INVALID', async () => {
    const other = await issueCertificate(c.agency, kidOf(c.agency), { iss: 'psb.example', sub: c.deviceIdHex, role: 'device', holderKey: pubOf(c.device), cti: new Uint8Array(16).fill(9), ...window, profile });
    const b = await make({ entries: [await readingEntry()], certificates: [other, c.agencyCert.bytes] });
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['chain', 'CHAIN_INVALID']]);
  });

  // verify-bundle.ts: the reading's ueid must be the device id of the certified key that signed it.
  test('a reading whose ueid names another device than its signing key: signature CLAIM_INVALID', async () => {
    const claims: ReadingClaims = { ...sensorClaims(c), deviceId: deviceIdFromKey(pubOf(signerFor(ALG_EDDSA, 'someone else'))) };
    const key = pubOf(c.device);
    const payload = await createSign1({ signer: c.device, payload: encode(readingClaimsToMap(claims)), kid: keyThumbprint(key), contentType: CT_READING });
    const b = await make({ entries: [await readingEntry({ payload })] });
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['signature', 'CLAIM_INVALID']]);
  });

  // verify-bundle.ts: the entry's own index must be the bundle's.
  test("an entry whose index is not the bundle's: INCLUSION_INVALID", async () => {
    const b = await make({ entries: [await readingEntry({ index: 1 })] });
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['claims', 'INCLUSION_INVALID'], ['inclusion', 'INCLUSION_INVALID']]);
  });

  // verify-bundle.ts: the checkpoint must be for the bundle's tree size.
  test('a checkpoint (validly signed, binding the header) naming another tree size: CHECKPOINT_INVALID', async () => {
    const b = await make({ entries: [await readingEntry()], cp: { size: 2 } });
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
  });

  // verify-bundle.ts: the block header must hold the bundle's entry.
  test('a block header that does not hold the entry: CHECKPOINT_INVALID', async () => {
    const entries = [await readingEntry(), await readingEntry({ index: 1, seq: 2 })];
    const b = await make({ entries, index: 0, block: { first: 1, last: 1 } });
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
  });

  // The same one past the block's last entry (mutant VB2: verify-bundle.ts `index > lastIndex` -> `> lastIndex + 1`).
  test('a block header whose last entry is the one before the bundle\'s: CHECKPOINT_INVALID', async () => {
    const entries = [await readingEntry(), await readingEntry({ index: 1, seq: 2 })];
    const b = await make({ entries, index: 1, block: { first: 0, last: 0 } });
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
  });

  // Boundaries of the entry's times against its block (mutants VB4: `receivedAtMs > timeMs` -> `> timeMs + 1`; VB5:
  // `iat > received + skew` -> `> received + skew + 1`): received in the block's very millisecond, and signed exactly
  // the skew after the log received it, pass; a millisecond or a second more fails.
  test('an entry received 1 ms after its block\'s time, or signed 301 s after it was received: CHECKPOINT_INVALID, CLOCK_SKEW', async () => {
    expect(fails(verifyBundle(await make({ entries: [await readingEntry({ receivedAtMs: BLOCK_MS })] }), trustWith()))).toEqual([]);
    expect(fails(verifyBundle(await make({ entries: [await readingEntry({ receivedAtMs: BLOCK_MS + 1 })] }), trustWith()))).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
    expect(fails(verifyBundle(await make({ entries: [await readingEntry({ claims: { iat: NOW + 300 } })] }), trustWith()))).toEqual([]);
    expect(fails(verifyBundle(await make({ entries: [await readingEntry({ claims: { iat: NOW + 301 } })] }), trustWith()))).toEqual([['checkpoint', 'CLOCK_SKEW']]);
  });

  // verify-bundle.ts: the block header may not be newer than the checkpoint.
  test('a block header newer than the checkpoint: CHECKPOINT_INVALID', async () => {
    const entries = [await readingEntry(), await readingEntry({ index: 1, seq: 2 })];
    const b = await make({ entries, treeSize: 1, block: { first: 0, last: 1 } });
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
  });

  // verify-bundle.ts: a bound header's root must be the checkpoint's root.
  test('a block header whose root is not the checkpoint root (checkpoint re-signed to bind it): CHECKPOINT_INVALID', async () => {
    const b = await make({ entries: [await readingEntry()], block: { first: 0, last: 0, root: new Uint8Array(32).fill(5) } });
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
  });

  // verify-bundle.ts keysAt: the key must be valid at the block time (notBefore <= t < notAfter).
  test('a checkpoint signed by a key whose window does not cover the block time: CHECKPOINT_INVALID', async () => {
    const b = await make({ entries: [await readingEntry()] });
    const cases: [object, boolean][] = [
      [{ notAfter: NOW - 10 }, false], [{ notAfter: NOW }, false], [{ notBefore: NOW + 1 }, false], [{ notBefore: NOW, notAfter: NOW + 1 }, true],
    ];
    for (const [w, ok] of cases) {
      const v = verifyBundle(b, trustWith([{ key: vkey(CP), ...w }]));
      expect(fails(v), JSON.stringify(w)).toEqual(ok ? [] : [['checkpoint', 'CHECKPOINT_INVALID']]);
    }
  });

  // verify-bundle.ts keysDuring: a later checkpoint needs a key not expired at the entry time.
  test('a later checkpoint signed by a key expired before the entry was received: CHECKPOINT_INVALID', async () => {
    const entries = [await readingEntry(), await readingEntry({ index: 1, seq: 2 })];
    const b = await make({ entries, block: { first: 0, last: 0 } }); // checkpoint at 2, header of block 0 (size 1)
    expect(fails(verifyBundle(b, trustWith([{ key: vkey(CP), notAfter: NOW + 1 }])))).toEqual([]);
    expect(fails(verifyBundle(b, trustWith([{ key: vkey(CP), notAfter: NOW }])))).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
  });

  // verify-bundle.ts: a key vouches only once its window has begun by the verifier's `now`, however the producer
  // dates the block. NEXT is published a year ahead of its notBefore; the current key retires then.
  describe('a checkpoint key whose window has not begun by now', () => {
    const NEXT = ed25519NoteSigner(ORIGIN, seedKey('next checkpoint key'));
    const ACTIVE = NOW + 365 * DAY;
    const rotation = () => trustWith([{ key: vkey(CP), notAfter: ACTIVE }, { key: vkey(NEXT), notBefore: ACTIVE }]);
    const two = async () => [await readingEntry(), await readingEntry({ index: 1, seq: 2 })];

    test('a later checkpoint (unbound) signed by it: CHECKPOINT_INVALID until its notBefore', async () => {
      const b = await make({ entries: await two(), block: { first: 0, last: 0 }, cp: { signer: NEXT } });
      expect(fails(verifyBundle(b, rotation(), { now: NOW + 60 }))).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
      expect(fails(verifyBundle(b, rotation(), { now: ACTIVE - 1 }))).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
      expect(fails(verifyBundle(b, rotation(), { now: ACTIVE }))).toEqual([]); // once it has begun: a later checkpoint after the rotation
      const current = await make({ entries: await two(), block: { first: 0, last: 0 } });
      expect(fails(verifyBundle(current, rotation(), { now: NOW + 60 }))).toEqual([]);
    });

    test('the checkpoint binding a block dated at its notBefore, a year ahead: CHECKPOINT_INVALID until then', async () => {
      const b = await make({ entries: [await readingEntry()], block: { first: 0, last: 0, timeMs: ACTIVE * 1000 }, cp: { signer: NEXT } });
      const v = verifyBundle(b, rotation(), { now: NOW + 60 });
      expect(fails(v)).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
      expect(v.checks.find((x) => x.name === 'checkpoint')!.message).toMatch(/after the verifier's clock/);
      expect(fails(verifyBundle(b, rotation(), { now: ACTIVE }))).toEqual([]);
    });

    test('a block dated within the clock skew of now, by a key beginning in that span: CHECKPOINT_INVALID until it begins', async () => {
      const soon = trustWith([{ key: vkey(CP), notAfter: NOW + 100 }, { key: vkey(NEXT), notBefore: NOW + 100 }]);
      const b = await make({ entries: [await readingEntry()], block: { first: 0, last: 0, timeMs: (NOW + 100) * 1000 }, cp: { signer: NEXT } });
      const v = verifyBundle(b, soon, { now: NOW + 50 });
      expect(fails(v)).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
      expect(v.checks.find((x) => x.name === 'checkpoint')!.message).toMatch(/no checkpoint key valid at the block time \d+ and begun by now/);
      expect(fails(verifyBundle(b, soon, { now: NOW + 100 }))).toEqual([]);
    });
  });

  // verify-bundle.ts: the block time chooses the key (bound) and bounds the entry time (unbound), so a block dated
  // after the verifier's now + skew is refused whoever signed it.
  test('a block dated more than the clock skew after now: CHECKPOINT_INVALID, bound or not; within it, valid', async () => {
    const at = (NOW + 1000) * 1000;
    const bound = await make({ entries: [await readingEntry()], block: { first: 0, last: 0, timeMs: at } });
    const unbound = await make({ entries: [await readingEntry(), await readingEntry({ index: 1, seq: 2 })], block: { first: 0, last: 0, timeMs: at } });
    for (const b of [bound, unbound]) {
      expect(fails(verifyBundle(b, trustWith(), { now: NOW + 699 }))).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
      expect(fails(verifyBundle(b, trustWith(), { now: NOW + 700 }))).toEqual([]); // 300 s, the default skew
      expect(fails(verifyBundle(b, trustWith(), { now: NOW + 499, maxClockSkewSeconds: 500 }))).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
      expect(fails(verifyBundle(b, trustWith(), { now: NOW + 500, maxClockSkewSeconds: 500 }))).toEqual([]);
    }
  });

  // verify-bundle.ts consistencyCheck: the `since` checkpoint's key must have begun by `now`.
  test('a since checkpoint signed by a key whose window begins after now: CHECKPOINT_INVALID', async () => {
    const b = await make({ entries: [await readingEntry()] });
    const since = { checkpoint: (await make({ entries: [await readingEntry()], cp: { signer: CP2 } })).checkpoint };
    const trust = trustWith([vkey(CP), { key: vkey(CP2), notBefore: NOW + 2000 }]);
    expect(fails(verifyBundle(b, trust, { since, now: NOW + 3000 }))).toEqual([]);
    expect(fails(verifyBundle(b, trust, { since, now: NOW + 1000 }))).toEqual([['consistency', 'CHECKPOINT_INVALID']]);
  });

  // verify-bundle.ts consistencyCheck: without an origin in the trust, the since checkpoint must be of the same log.
  test('a since checkpoint of another origin (trust names none): CONSISTENCY_INVALID', async () => {
    const b = await make({ entries: [await readingEntry()] });
    const since = { checkpoint: (await make({ entries: [await readingEntry()], cp: { origin: 'other.example/log' } })).checkpoint };
    expect(fails(verifyBundle(b, trustWith([vkey(CP)], {}), { since }))).toEqual([['consistency', 'CONSISTENCY_INVALID']]);
  });

  // verify-checks.ts onlyRootsBesides: an extra root certificate must carry the anchor's valid self-signature.
  test("a bundle carrying the trusted root's certificate with a bad signature: BAD_SIGNATURE", async () => {
    const b = await make({ entries: [await readingEntry()], certificates: [c.deviceCert.bytes, c.agencyCert.bytes, badSignature(c.rootCert.bytes)] });
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['chain', 'BAD_SIGNATURE']]);
  });

  // verify-checks.ts onlyRootsBesides: only a root certificate of a trusted root rides along, not another role's
  // certificate of the root's key, signed by it as it may be.
  test("a bundle carrying an agency certificate of the trusted root's own key: CHAIN_INVALID", async () => {
    const asAgency = await issueCertificate(c.root, kidOf(c.root), { iss: 'root.example', sub: 'root-as-agency.example', role: 'agency', holderKey: pubOf(c.root), ...window });
    const b = await make({ entries: [await readingEntry()], certificates: [c.deviceCert.bytes, c.agencyCert.bytes, asAgency] });
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['chain', 'CHAIN_INVALID']]);
    const withRoot = await make({ entries: [await readingEntry()], certificates: [c.deviceCert.bytes, c.agencyCert.bytes, c.rootCert.bytes] });
    expect(fails(verifyBundle(withRoot, trustWith()))).toEqual([]);
  });

  // verify-registry-event.ts: the revoked certificate's iss must be the issuing agency.
  test('a revocation of a certificate whose iss is not its issuing agency: CHAIN_INVALID', async () => {
    const forged = decodeCertificate(await issueCertificate(c.agency, kidOf(c.agency), { iss: 'other.example', sub: c.deviceIdHex, role: 'device', holderKey: pubOf(c.device), ...window, profile }));
    expect(fails(verifyBundle(await revocationBundle(forged), trustWith()))).toEqual([['chain', 'CHAIN_INVALID']]);
  });

  // verify-registry-event.ts: the revoked certificate must be signed by the issuing agency.
  test('a revocation of a certificate with a bad signature: BAD_SIGNATURE', async () => {
    const forged = decodeCertificate(badSignature(c.deviceCert.bytes));
    expect(fails(verifyBundle(await revocationBundle(forged), trustWith()))).toEqual([['chain', 'BAD_SIGNATURE']]);
  });
});

describe('receipts', () => {
  // receipt.ts verifyReceipt: a checkpoint of size n covers indexes < n only.
  test('a receipt whose checkpoint size equals its index: CHECKPOINT_INVALID', async () => {
    const envelope = await signReading(c.device, sensorClaims(c));
    const entry = encodeLogEntry({ type: ENTRY_READING, index: 1, receivedAtMs: RECEIVED_MS, payload: envelope, certRef: c.deviceCert.certRef });
    const receiptAt = async (size: number) => ({
      seq: 1, index: 1, receivedAtMs: RECEIVED_MS, certRef: c.deviceCert.certRef, leafHash: leafHash(entry),
      checkpoint: await signCheckpoint({ origin: ORIGIN, size, root: new Uint8Array(32), extensions: [] }, CP),
    });
    expect(verifyReceipt(await receiptAt(2), envelope, [CP])).toBe(2);
    expect(await codeOf(async () => verifyReceipt(await receiptAt(1), envelope, [CP]))).toBe('CHECKPOINT_INVALID');
  });
});
