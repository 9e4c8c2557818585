/**
 * Review of an agency's revocation (by its root) racing its devices' readings: the registry applies it at once,
 * before its block is durable (gateway/registry.ts revoke). Checked fine (no defect): a reading still being verified
 * waits for the revocation's append (since revocation-append-wait.test.ts) and is refused then (CERT_REVOKED); one already on its way into a block is logged
 * before the revocation's entry and gets its receipt, and its bundle then carries the revocation: dated from
 * revokedFrom on it is CERT_REVOKED offline (a revocation voids what the key signed from then, logged or not), dated
 * before it stays VALID.
 */
import { describe, expect, test } from 'vitest';
import { createRevocation, verifyBundle } from '../../protocol/index.js';
import { BlockWriteHold } from './block-hold.js';
import { failedChecks as failed, outcomeCode as code, stopAfterEach } from './agency-roots.js';
import { entryBundle, gatewayTrust, nowS, Pki, reading, register, startTestGateway } from './harness.js';

const track = stopAfterEach();

describe('review: an agency revoked while its devices\' readings are in flight', () => {
  test('being verified: CERT_REVOKED; on its way into a block: logged before the revocation, CERT_REVOKED offline from revokedFrom on, VALID before', async () => {
    const pki = await Pki.create();
    const hold = new BlockWriteHold();
    const t = track(await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 50 }, undefined, { wrapBackend: hold.wrap }));
    const g = await pki.agency('revoked-midway.example');
    const [d1, d2, d3] = [await pki.device(g), await pki.device(g), await pki.device(g)];
    await register(t.gw, g, [d1, d2, d3]);
    const from = nowS() - 60;
    const revocation = await createRevocation(pki.root.signer, g.cert, { reason: 'keyCompromise', revokedFrom: from, iat: nowS() });

    // Two readings on their way into a block (its write held), then the revocation, then one being verified.
    let release!: () => void;
    let entered!: () => void;
    const reached = new Promise<void>((r) => (entered = r));
    hold.entered = () => entered();
    hold.before = new Promise<void>((r) => (release = r));
    const after = t.gw.pipeline.process(d1.id, await reading(d1, 1), Date.now());
    const before = t.gw.pipeline.process(d2.id, await reading(d2, 1, { iat: from - 10 }), Date.now());
    await reached;
    const admitted = (id: string) => (t.gw.pipeline.admitted(id)?.pending.length ?? 0) > 0;
    while (!admitted(d1.id) || !admitted(d2.id)) await new Promise((r) => setTimeout(r, 5)); // both on their way to the held write
    const verifying = t.gw.pipeline.process(d3.id, await reading(d3, 1), Date.now());
    const revoked = t.gw.registry.revoke(revocation);
    // The one being verified waits for the revocation's append (test/gateway/revocation-append-wait.test.ts), which
    // comes after the held write: answered once the revocation is durable.
    await new Promise((r) => setTimeout(r, 200));
    hold.before = null;
    hold.entered = null;
    release();
    expect(code(await verifying)).toBe('CERT_REVOKED');
    const { index } = await revoked;
    const [a, b] = await Promise.all([after, before]);
    expect([code(a!), code(b!)]).toEqual(['accepted', 'accepted']);
    if (!a!.ok || !b!.ok) return;
    expect(a!.receipt.index).toBeLessThan(index);
    const trust = await gatewayTrust(t);
    expect(failed(verifyBundle(await entryBundle(t, a!.receipt.index), trust))).toEqual([['revocation', 'CERT_REVOKED']]);
    expect(failed(verifyBundle(await entryBundle(t, b!.receipt.index), trust))).toEqual([]);
  }, 20_000);
});
