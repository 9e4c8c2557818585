/**
 * The verdicts' time budget (httpVerifyMsPerSecond) and the revocation list's preparation (routes/verify.ts
 * PreparedRevocationLists): the preparation a verdict needs is part of that verdict's work, checked and charged with
 * it once. Charged apart, a preparation that alone went past the budget refused the very verdict it had been done for
 * (429 on the first verdict after a change, with the budget untouched before it): a CI run's verify-time-budget test
 * failed so on a loaded machine (1 ms budget, a list of two statements). Here 300 revocations make the preparation
 * take more than the 1 ms budget on any machine.
 */
import { expect, test } from 'vitest';
import { encodeProofBundle, toBase64 } from '../../protocol/index.js';
import { entryBundle, nowS, postCert, postRevocation, useGatewayWithDevices } from './harness.js';

const REVOKED = 300;
const g = useGatewayWithDevices(0, { httpVerifyMsPerSecond: 1, blockMaxMs: 5, writeRateLimit: 100_000 });

test('the first verdict after the list changed is taken (its preparation charged with it); the next, within the second, is RATE_LIMITED', async () => {
  const { t, agency } = g;
  const devices = await Promise.all(Array.from({ length: REVOKED }, () => t.pki.device(agency)));
  expect((await Promise.all(devices.map((d) => postCert(t, 'devices', d.cert)))).every((r) => r.status === 201)).toBe(true);
  const from = nowS() - 30;
  expect((await Promise.all(devices.map((d) => postRevocation(t, agency, d.cert, from, 'decommissioned')))).every((r) => r.status === 201)).toBe(true);
  // The latest checkpoint commits to every revocation: the list the verdict prepares holds all of them.
  while ((await t.gw.ledger.ledger.revocationListing()).revocations.length < REVOKED) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 1100)); // nothing charged in the last second

  const bundle = toBase64(encodeProofBundle(await entryBundle(t, 0))); // the agency's registration, of this log
  const verify = () => t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle } });
  const first = await verify();
  expect([first.statusCode, first.json().valid]).toEqual([200, true]);
  const second = await verify();
  expect([second.statusCode, second.json().code]).toEqual([429, 'RATE_LIMITED']);
}, 60_000);
