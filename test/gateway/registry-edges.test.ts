/**
 * Registry edges found by mutation testing: a second keyCompromise statement that is not stricter, and a second
 * agency certificate for a registered agency id under another key. Codes only, never messages.
 */
import { describe, expect, test } from 'vitest';
import { ENTRY_REVOCATION, createRevocation, toBase64 } from '../../protocol/index.js';
import { certify, nowS, post, useGatewayWithDevices } from './harness.js';

describe('registry writes that must be refused', () => {
  const fx = useGatewayWithDevices(1);

  // guards registry-rules.ts isStricter: keyCompromise after keyCompromise at the same revokedFrom is not stricter
  test('a second keyCompromise revocation, same certificate and revokedFrom, another statement: 409 CONFLICT', async () => {
    const from = nowS() - 60;
    const mk = (iat: number) => createRevocation(fx.agency.signer, fx.dev.cert, { reason: 'keyCompromise', revokedFrom: from, iat });
    const first = await post(fx.t.gw, '/v1/revocations', { revocation: toBase64(await mk(from + 10)) });
    expect(first.status).toBe(201);
    const second = await post(fx.t.gw, '/v1/revocations', { revocation: toBase64(await mk(from + 20)) });
    expect([second.status, second.body.code]).toEqual([409, 'CONFLICT']);
  });

  // guards registry-rules.ts mayReplaceRevocation: a keyCompromise is never traded for another reason, even an earlier one
  test('after keyCompromise, a revocation of the same certificate for another reason, even from earlier: 409 CONFLICT', async () => {
    const d = await fx.t.pki.device(fx.agency);
    expect((await post(fx.t.gw, '/v1/devices', { certificate: toBase64(d.cert.bytes) })).status).toBe(201);
    const rev = (reason: 'keyCompromise' | 'decommissioned', revokedFrom: number) =>
      createRevocation(fx.agency.signer, d.cert, { reason, revokedFrom, iat: nowS() }).then((b) => post(fx.t.gw, '/v1/revocations', { revocation: toBase64(b) }));
    expect((await rev('keyCompromise', nowS() - 60)).status).toBe(201);
    const other = await rev('decommissioned', nowS() - 3600);
    expect([other.status, other.body.code]).toEqual([409, 'CONFLICT']);
    expect((await rev('keyCompromise', nowS() - 3600)).status).toBe(201);
    // the log holds both keyCompromise statements, never the refused one
    const listed = (await fx.t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json() as { revocations: { sub: string; reason: string }[] };
    expect(listed.revocations.filter((x) => x.sub === d.id).map((x) => x.reason)).toEqual(['keyCompromise', 'keyCompromise']);
  });

  // guards registry.ts applyRevocation: a log written before that rule is rebuilt as it was taken (the earlier time)
  test('a log holding a downgrade from before the rule (keyCompromise, then another reason from earlier): rebuilt with the earlier time', async () => {
    const d = await fx.t.pki.device(fx.agency);
    expect((await post(fx.t.gw, '/v1/devices', { certificate: toBase64(d.cert.bytes) })).status).toBe(201);
    const t1 = nowS() - 60, t0 = nowS() - 3600;
    const kc = await createRevocation(fx.agency.signer, d.cert, { reason: 'keyCompromise', revokedFrom: t1, iat: nowS() });
    expect((await post(fx.t.gw, '/v1/revocations', { revocation: toBase64(kc) })).status).toBe(201);
    // what an older gateway took: the statement appended to the log as registry.revoke appends one
    const dec = await createRevocation(fx.agency.signer, d.cert, { reason: 'decommissioned', revokedFrom: t0, iat: nowS() });
    await fx.t.gw.ledger.appendRegistryEvent(ENTRY_REVOCATION, dec, fx.agency.cert.certRef);
    await fx.t.restart();
    const shown = (await fx.t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json();
    expect([shown.status, shown.revokedFrom, shown.revocationReason]).toEqual(['revoked', t0, 'decommissioned']);
    // the key stays compromised: never certified again
    const again = await post(fx.t.gw, '/v1/devices', { certificate: toBase64((await certify(fx.agency, d, 'device', nowS())).bytes) });
    expect([again.status, again.body.code]).toEqual([422, 'CERT_REVOKED']);
  });

  // guards registry.ts registerAgency: one agency id, one key, until it is revoked
  test('a second agency certificate with the same id and another key, the first not revoked: 403 ROLE_VIOLATION', async () => {
    const again = await fx.t.pki.agency(fx.agency.cert.claims.sub);
    const r = await post(fx.t.gw, '/v1/agencies', { certificate: toBase64(again.cert.bytes) });
    expect([r.status, r.body.code]).toEqual([403, 'ROLE_VIOLATION']);
  });
});
