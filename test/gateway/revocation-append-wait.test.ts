/**
 * A revocation is in force as soon as the gateway takes it, before its block is durable; the holder's readings (the
 * device's, or its agency's devices') now also wait for its append, as for a renewal, and one refused meanwhile is
 * checked again after it. Suspected by the agency-renewal review, confirmed: when the append failed, the revocation
 * was undone, but a reading refused meanwhile had been told CERT_REVOKED, which stops a device (SPEC §8), for a
 * revocation that was never logged. Now it is answered as the store's failure says (STORAGE_UNAVAILABLE: keep it,
 * resend); a revocation that lands still refuses it (CERT_REVOKED).
 */
import { describe, expect, test } from 'vitest';
import { createRevocation, type DecodedCertificate } from '../../protocol/index.js';
import { BlockWriteHold } from './block-hold.js';
import { outcomeCode as code, stopAfterEach } from './agency-roots.js';
import { nowS, Pki, reading, register, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';

const track = stopAfterEach();

async function start(hold: BlockWriteHold): Promise<{ t: TestGateway; g: Party; d: Device }> {
  const pki = await Pki.create();
  const t = track(await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 20 }, undefined, { wrapBackend: hold.wrap }));
  const g = await pki.agency('revoking.example');
  const d = await pki.device(g);
  await register(t.gw, g, [d]);
  return { t, g, d };
}

/**
 * Revoke `cert` (by `issuer`, from 5 s ago) with its block write held; a reading of `d` taken meanwhile and given time
 * to be refused; then the write fails or goes on. The revocation's and the reading's outcomes.
 */
async function duringRevocation(t: TestGateway, hold: BlockWriteHold, issuer: Party, cert: DecodedCertificate, d: Device, writeFails: boolean) {
  let release!: () => void;
  let reject!: (e: Error) => void;
  let entered!: () => void;
  const reached = new Promise<void>((r) => (entered = r));
  hold.entered = () => entered();
  hold.before = new Promise<void>((res, rej) => ((release = res), (reject = rej)));
  hold.before.catch(() => undefined);
  const bytes = await createRevocation(issuer.signer, cert, { reason: 'decommissioned', revokedFrom: nowS() - 5, iat: nowS() });
  const revoking = t.gw.registry.revoke(bytes).then(() => 'revoked', (e: { code?: string }) => e.code);
  await reached;
  const r = t.gw.pipeline.process(d.id, await reading(d, 1), Date.now());
  await new Promise((res) => setTimeout(res, 300)); // refused on arrival while the revocation is in force
  hold.before = null;
  hold.entered = null;
  if (writeFails) reject(new Error('EIO: i/o error (injected)'));
  else release();
  return { revocation: await revoking, reading: code(await r) };
}

describe('a reading while a revocation of its device or agency is being logged', () => {
  test("the device's revocation: its block write fails: the reading is STORAGE_UNAVAILABLE (kept, resent), not CERT_REVOKED", async () => {
    const hold = new BlockWriteHold();
    const { t, g, d } = await start(hold);
    expect(await duringRevocation(t, hold, g, d.cert, d, true)).toEqual({ revocation: 'STORAGE_UNAVAILABLE', reading: 'STORAGE_UNAVAILABLE' }); // was CERT_REVOKED
    expect(t.gw.registry.deviceById(d.id)!.replacing).toBeUndefined();
  }, 20_000);

  test("the agency's revocation by its root: its block write fails: the agency's device's reading is STORAGE_UNAVAILABLE", async () => {
    const hold = new BlockWriteHold();
    const { t, g, d } = await start(hold);
    expect(await duringRevocation(t, hold, t.pki.root, g.cert, d, true)).toEqual({ revocation: 'STORAGE_UNAVAILABLE', reading: 'STORAGE_UNAVAILABLE' }); // was CERT_REVOKED
  }, 20_000);

  test('the revocation lands: the waiting reading is refused CERT_REVOKED, and nothing of it is logged', async () => {
    const hold = new BlockWriteHold();
    const { t, g, d } = await start(hold);
    const size = t.gw.ledger.ledger.size;
    expect(await duringRevocation(t, hold, g, d.cert, d, false)).toEqual({ revocation: 'revoked', reading: 'CERT_REVOKED' });
    expect(t.gw.ledger.ledger.size).toBe(size + 1); // the revocation's entry only
  }, 20_000);
});
