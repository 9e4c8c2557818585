/** A root authority and its agencies made on the spot (demo and tests); real deployments use `originproof cert`. */
import {
  ALG_EDDSA, ALG_ES256, decodeCertificate, generateSecretKey, issueCertificate, keyThumbprint, nobleSigner, publicKey, toBase64,
  type DecodedCertificate, type Signer,
} from '../protocol/index.js';
import { Agency } from './agency.js';

const DAY = 86_400;
const nowS = () => Math.floor(Date.now() / 1000);

export class RootAuthority {
  private constructor(readonly id: string, readonly signer: Signer, readonly cert: DecodedCertificate) {}

  static async create(id: string): Promise<RootAuthority> {
    const signer = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const key = publicKey(signer.alg, signer.publicKey);
    const t = nowS();
    const cert = decodeCertificate(await issueCertificate(signer, keyThumbprint(key), { iss: id, sub: id, role: 'root', holderKey: key, iat: t, nbf: t - DAY, exp: t + 3650 * DAY }));
    return new RootAuthority(id, signer, cert);
  }

  async agency(id: string): Promise<Agency> {
    const signer = nobleSigner(ALG_ES256, generateSecretKey(ALG_ES256));
    const t = nowS();
    const cert = decodeCertificate(
      await issueCertificate(this.signer, this.cert.holderKid, { iss: this.id, sub: id, role: 'agency', holderKey: publicKey(signer.alg, signer.publicKey), iat: t, nbf: t - DAY, exp: t + 365 * DAY }),
    );
    return new Agency(signer, cert);
  }

  /** A trust file holding this root (and, if given, gateway checkpoint keys). */
  trustJson(checkpointKeys: string[] = []): string {
    return JSON.stringify({ roots: [{ certificate: toBase64(this.cert.bytes) }], ...(checkpointKeys.length ? { checkpointKeys } : {}) }, null, 2);
  }
}
