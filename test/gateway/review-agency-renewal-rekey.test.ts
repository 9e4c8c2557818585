/**
 * Review of an agency re-keyed under the same root (its first key's certificate revoked, a certificate for a new key
 * and the same id registered) and its device moved to the new key, with readings in flight: checked fine (no defect).
 * While the device's move is logged, its readings wait for it (DeviceRecord.replacing); one dated before the
 * revocations is logged under the first key's chain, one dated after under the new key's, one the first chain refuses
 * on arrival is taken under the new; every receipt's bundle verifies offline. The new key's registration itself holds
 * nothing: the first key's devices keep their (revoked) agency record.
 */
import { describe, expect, test } from 'vitest';
import { ALG_ES256, decodeCertificate, generateSecretKey, issueCertificate, nobleSigner, toHex, verifyBundle } from '../../protocol/index.js';
import { BlockWriteHold } from './block-hold.js';
import { DAY, failedChecks as failed, outcomeCode as code, stopAfterEach } from './agency-roots.js';
import { certify, entryBundle, gatewayTrust, kidOf, nowS, Pki, pubOf, reading, register, revoke, startTestGateway, type Party } from './harness.js';

const track = stopAfterEach();

describe('review: agency re-keyed under the same root, its device moved over, readings in flight', () => {
  test('readings at their turn while the move is logged: each under the chain of its time and place in the log, each bundle VALID offline', async () => {
    const now = nowS();
    const pki = await Pki.create();
    const hold = new BlockWriteHold();
    const t = track(await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 50 }, undefined, { wrapBackend: hold.wrap }));
    const first = await pki.agency('rekeyed.example');
    const d = await pki.device(first);
    await register(t.gw, first, [d]);
    expect((await revoke(t.gw, pki.root, first.cert, now - 600, 'superseded')).status).toBe(201);
    expect((await revoke(t.gw, first, d.cert, now - 300, 'affiliationChanged')).status).toBe(201);
    const signer = nobleSigner(ALG_ES256, generateSecretKey(ALG_ES256));
    const second: Party = {
      signer,
      cert: decodeCertificate(
        await issueCertificate(pki.root.signer, kidOf(pki.root.signer), { iss: 'root.example', sub: 'rekeyed.example', role: 'agency', holderKey: pubOf(signer), iat: now, nbf: now - DAY, exp: now + 365 * DAY }),
      ),
    };
    const firstRecord = t.gw.registry.agencyById('rekeyed.example')!;
    // The new key's registration with its write held: the first key's device is not held by it (a reading dated
    // after the first key's revocation is refused at once, CERT_REVOKED).
    let release!: () => void;
    let entered!: () => void;
    const reached = new Promise<void>((r) => (entered = r));
    hold.entered = () => entered();
    hold.before = new Promise<void>((r) => (release = r));
    const registering = t.gw.registry.registerAgency(second.cert.bytes);
    await reached;
    expect(firstRecord.replacing).toBeUndefined();
    expect(code(await t.gw.pipeline.process(d.id, await reading(d, 1), Date.now()))).toBe('CERT_REVOKED');
    hold.before = null;
    hold.entered = null;
    release();
    expect((await registering).created).toBe(true);

    // The device's move to the new key, its write held; readings meanwhile.
    const moved = await certify(second, d, 'device', now);
    const device = t.gw.registry.deviceById(d.id)!;
    const reached2 = new Promise<void>((r) => (entered = r));
    hold.entered = () => entered();
    hold.before = new Promise<void>((r) => (release = r));
    const moving = t.gw.registry.registerDevice(moved.bytes);
    await reached2;
    expect(device.replacing).toBeDefined();
    const outcomes = [
      t.gw.pipeline.process(d.id, await reading(d, 2, { iat: now - 1200 }), Date.now()), // before both revocations: the first key's chain
      t.gw.pipeline.process(d.id, await reading(d, 3), Date.now()), // refused by the first chain on arrival, taken under the move
    ];
    await new Promise((r) => setTimeout(r, 300));
    hold.before = null;
    hold.entered = null;
    release();
    const { record } = await moving;
    const [early, late] = await Promise.all(outcomes);
    expect([code(early!), code(late!)]).toEqual(['accepted', 'accepted']);
    if (!early!.ok || !late!.ok) return;
    expect(toHex(early!.receipt.certRef)).toBe(toHex(d.cert.certRef));
    expect(toHex(late!.receipt.certRef)).toBe(toHex(moved.certRef));
    expect(late!.receipt.index).toBeGreaterThan(record.index);
    const trust = await gatewayTrust(t);
    for (const o of [early!, late!]) if (o.ok) expect(failed(verifyBundle(await entryBundle(t, o.receipt.index), trust))).toEqual([]);
  }, 20_000);
});
