/**
 * The verdicts' time budget (httpVerifyMsPerSecond) and the revocation list's preparation (routes/verify.ts
 * PreparedRevocationLists): the preparation a verdict needs is part of that verdict's work, checked and charged with
 * it once. Charged apart, a preparation that alone went past the budget refused the very verdict it had been done for
 * (429 on the first verdict after a change, with the budget untouched before it): a CI run's verify-time-budget test
 * failed so on a loaded machine (1 ms budget, a list of two statements). The budget's clock here charges each piece
 * of work the whole budget (stepping-clock.ts): a preparation charged apart would leave nothing for its verdict.
 */
import { expect, test } from 'vitest';
import { encodeProofBundle, toBase64 } from '../../protocol/index.js';
import { entryBundle, nowS, postCert, postRevocation, useGatewayWithDevices } from './harness.js';
import { SteppingClock } from './stepping-clock.js';

const REVOKED = 3;
const clock = new SteppingClock(4);
const g = useGatewayWithDevices(0, { httpVerifyMsPerSecond: 4, blockMaxMs: 5, writeRateLimit: 100_000 }, { verifyBudgetClock: clock.now });

test('the first verdict after the list changed is taken (its preparation charged with it); the next, within the second, is RATE_LIMITED', async () => {
  const { t, agency } = g;
  const devices = await Promise.all(Array.from({ length: REVOKED }, () => t.pki.device(agency)));
  expect((await Promise.all(devices.map((d) => postCert(t, 'devices', d.cert)))).every((r) => r.status === 201)).toBe(true);
  const from = nowS() - 30;
  expect((await Promise.all(devices.map((d) => postRevocation(t, agency, d.cert, from, 'decommissioned')))).every((r) => r.status === 201)).toBe(true);
  // The latest checkpoint commits to every revocation: the list the verdict prepares holds all of them.
  while ((await t.gw.ledger.ledger.revocationListing()).revocations.length < REVOKED) await new Promise((r) => setTimeout(r, 10));

  const bundle = toBase64(encodeProofBundle(await entryBundle(t, 0))); // the agency's registration, of this log
  const verify = () => t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle } });
  const first = await verify();
  expect([first.statusCode, first.json().valid]).toEqual([200, true]);
  // One charge of 4 ms, the preparation's and the verdict's work together: the budget spent.
  const second = await verify();
  expect([second.statusCode, second.json().code]).toEqual([429, 'RATE_LIMITED']);
}, 60_000);
