/**
 * Shared by the agency-renewal and revocation-race suites: a PKI with a second root (trusted from a given time), an
 * agency certificate by either root for an agency's key, the short forms their assertions use, and a gateway per test
 * stopped after it.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { ALG_EDDSA, decodeCertificate, generateSecretKey, issueCertificate, nobleSigner, toBase64, type DecodedCertificate, type Verdict } from '../../protocol/index.js';
import type { Outcome } from '../../gateway/device-lane.js';
import { kidOf, Pki, pubOf, startTestGateway, type Party, type TestGateway } from './harness.js';

export const DAY = 86_400;

/** 'accepted', or the code the reading was refused with. */
export const outcomeCode = (o: Outcome): string => (o.ok ? 'accepted' : o.error.code);

/** The failed checks of a verdict, as [name, code]. */
export const failedChecks = (v: Verdict): (string | undefined)[][] => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);

/** A PKI whose trust file also holds a second root, trusted from `root2Nbf` on (its certificate's window). */
export class TwoRoots extends Pki {
  root2!: Party;
  static async withSecond(root2Nbf: number): Promise<TwoRoots> {
    const p = Object.assign(new TwoRoots(), await Pki.create());
    const signer = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const cert = decodeCertificate(
      await issueCertificate(signer, kidOf(signer), { iss: 'root2.example', sub: 'root2.example', role: 'root', holderKey: pubOf(signer), iat: root2Nbf, nbf: root2Nbf, exp: root2Nbf + 3650 * DAY }),
    );
    p.root2 = { signer, cert };
    return p;
  }
  override trustJson(): string {
    return JSON.stringify({ roots: [{ certificate: toBase64(this.root.cert.bytes) }, { certificate: toBase64(this.root2.cert.bytes) }] });
  }
}

/** An agency certificate for `agency`'s key and id by `root` with the given window. */
export async function agencyCert(root: Party, agency: Party, w: { iat: number; nbf: number; exp: number }): Promise<DecodedCertificate> {
  return decodeCertificate(
    await issueCertificate(root.signer, kidOf(root.signer), { iss: root.cert.claims.sub, sub: agency.cert.claims.sub, role: 'agency', holderKey: pubOf(agency.signer), ...w }),
  );
}

/** For suites that start a gateway in each test: pass it through the returned function and it is stopped after the test. */
export function stopAfterEach(): (t: TestGateway) => TestGateway {
  let open: TestGateway | null = null;
  afterEach(async () => {
    const t = open;
    open = null;
    await t?.stop();
  });
  return (t) => (open = t);
}

/**
 * A gateway for the describe block it is called in, on a TwoRoots PKI whose second root is trusted from `root2Nbf` on
 * (writes rate-limited at 1,000 a minute): started before the block's tests, `set` given both, stopped after them.
 */
export function useTwoRootsGateway(root2Nbf: number, set: (g: { t: TestGateway; pki: TwoRoots }) => void): void {
  let t: TestGateway | undefined;
  beforeAll(async () => {
    const pki = await TwoRoots.withSecond(root2Nbf);
    t = await startTestGateway(pki, { writeRateLimit: 1000 });
    set({ t, pki });
  });
  afterAll(() => t?.stop());
}
