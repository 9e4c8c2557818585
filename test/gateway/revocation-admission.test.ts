/**
 * A revocation that takes effect while a reading is between its arrival checks and its admission (being verified,
 * or waiting in its device's lane): the reading is checked again just before it goes to the ledger, so it is
 * refused (CERT_REVOKED) instead of being logged after the revocation entry.
 */
import { expect, test } from 'vitest';
import { gatewayWithDevices, connectDevice, reading, nowS } from './harness.js';
import { createRevocation } from '../../protocol/index.js';

test('a reading dated after revokedFrom, revoked while it is being verified: CERT_REVOKED, not logged', async () => {
  const { t, agency, devices } = await gatewayWithDevices(2);
  const [dev, other] = devices as [(typeof devices)[0], (typeof devices)[0]];
  try {
    const from = nowS() - 60;
    const r1 = await reading(dev, 1); // dated now: after revokedFrom
    const early = await reading(dev, 2, { iat: from - 10 }); // dated before revokedFrom: still valid after it
    const revocation = await createRevocation(agency.signer, dev.cert, { reason: 'keyCompromise', revokedFrom: from, iat: nowS() });
    const device = t.gw.registry.deviceById(dev.id)!;
    expect(t.gw.registry.deviceStatus(device, nowS())).toBe('active');
    // The reading passes its arrival checks now; its signature goes to a worker thread (a later turn of the event
    // loop). The revocation is submitted meanwhile and is in force from then on.
    const outcome = t.gw.pipeline.process(dev.id, r1, Date.now());
    const revoked = t.gw.registry.revoke(revocation, nowS());
    const o = await outcome;
    expect(o.ok ? 'receipt' : o.error.code).toBe('CERT_REVOKED');
    expect(o.ok ? null : o.seq).toBe(1);
    const { index } = await revoked;
    await t.gw.ledger.flush();
    expect(await t.gw.ledger.findBySeq(dev.id, 1)).toBeUndefined();
    expect(t.gw.ledger.size()).toBe(index + 1); // nothing logged after the revocation
    // A reading dated before revokedFrom is still admitted (a key compromise has a start), after the revocation.
    const e = await t.gw.pipeline.process(dev.id, early, Date.now());
    expect(e.ok ? e.receipt.index : e.error.code).toBe(index + 1);
    // Over MQTT, another device of the agency is unaffected.
    const c = await connectDevice(t.gw, other);
    await c.publish(await reading(other, 1));
    expect((await c.next()).kind).toBe('receipt');
    await c.end();
  } finally {
    await t.stop();
  }
}, 30_000);
