/**
 * Interop with an independent COSE implementation that has EdDSA: @auth0/cose 1.0.2 (dev dependency; the maintained
 * successor of cose-kit). Its Sig_structure, header handling and COSE_Key import are its own, and it signs and verifies
 * through node:crypto (KeyObjects via jose), not @noble/curves. Both directions, for Ed25519 and ES256:
 *  - it verifies our readings and our certificates (the Ed25519 root and agency certificates, the ES256-signed device
 *    certificate), with keys it imports from our COSE_Key encoding, and rejects a one-bit change;
 *  - Sign1 objects it produces (a reading signed with the device key, certificates signed with the root and agency
 *    keys, and a Sign1 under a key it generated and exported as COSE_Key) verify with decodeSign1/verifySign1,
 *    verifyReading and validateChain, under both our verifiers (noble and node:crypto).
 *
 * It runs in a child process: @auth0/cose registers cbor-x extensions for the COSE tags (16, 17, 18, 96-98) on cbor-x's
 * process-wide extension table, and cbor-x is also our CBOR codec, so loading it here would make our decoder return its
 * Sign1 class for tag 18. A separate process keeps both implementations unaware of each other. No network is used.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ALG_EDDSA, ALG_ES256, CT_CERTIFICATE, CT_READING, HDR_ALG, HDR_CONTENT_TYPE, HDR_KID, claimsToMap, coseKeyFromMap,
  decode, decodeCertificate, decodeSign1, encode, encodeCoseKey, fromHex, nobleVerify, openReading, readingClaimsToMap,
  signReading, toHex, validateChain, verifyReading, verifySign1, type Alg, type Signer,
} from '../../protocol/index.js';
import { nodeVerify } from '../../gateway/crypto/node-verifier.js';
import { DAY, FIRMWARE, NOW, kidOf, makeChain, pubOf, seedKey, sensorClaims } from './fixtures.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface VerifyJob { name: string; bytes: string; key: string }
interface SignJob { name: string; alg: Alg; key?: string; contentType?: number; kid?: string; payload: string }
interface PeerResult {
  verified: { name: string; ok: boolean; error?: string; alg?: number; kid?: string; payload?: string }[];
  signed: { name: string; bytes: string; publicKey?: string }[];
}

/** Runs in a fresh node process: only @auth0/cose (and node built-ins) touch the bytes there. */
const PEER = `
import { readFileSync } from 'node:fs';
import { Sign1, COSEKey } from '@auth0/cose';
const hex = (b) => Buffer.from(b).toString('hex');
const bin = (h) => new Uint8Array(Buffer.from(h, 'hex'));
const input = JSON.parse(readFileSync(0, 'utf8'));
const out = { verified: [], signed: [] };
for (const job of input.verify) {
  try {
    const msg = Sign1.decode(bin(job.bytes));
    await msg.verify(await COSEKey.import(bin(job.key)).toKeyLike());
    out.verified.push({ name: job.name, ok: true, alg: msg.alg, kid: msg.kid ? hex(msg.kid) : undefined, payload: hex(msg.payload) });
  } catch (err) {
    out.verified.push({ name: job.name, ok: false, error: String(err?.code ?? err?.message ?? err) });
  }
}
for (const job of input.sign) {
  let key, publicKey;
  if (job.key) key = await COSEKey.import(bin(job.key)).toKeyLike();
  else {
    const pair = await COSEKey.generate(job.alg);
    key = await pair.privateKey.toKeyLike();
    publicKey = hex(pair.publicKey.encode());
  }
  const prot = new Map([[1, job.alg]]);
  if (job.contentType !== undefined) prot.set(3, job.contentType);
  if (job.kid !== undefined) prot.set(4, bin(job.kid));
  const msg = await Sign1.sign(prot, new Map(), bin(job.payload), key);
  out.signed.push({ name: job.name, bytes: hex(msg.encode()), publicKey });
}
process.stdout.write(JSON.stringify(out));
`;

function peer(verify: VerifyJob[], sign: SignJob[]): PeerResult {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', PEER], {
    cwd: ROOT, input: JSON.stringify({ verify, sign }), encoding: 'utf8', timeout: 20_000,
  });
  if (r.status !== 0) throw new Error(`@auth0/cose peer failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as PeerResult;
}

/** A private COSE_Key (RFC 9053 §7: OKP/EC2 with d = -4) for handing our test keys to the peer. */
function privateCoseKey(s: Signer, seed: Uint8Array): string {
  const m = decode(encodeCoseKey(pubOf(s))) as Map<number, unknown>;
  m.set(-4, seed);
  return toHex(encode(m));
}

const flip = (hexBytes: string): string => {
  const b = fromHex(hexBytes);
  b[b.length - 1]! ^= 1;
  return toHex(b);
};

describe('@auth0/cose interop (EdDSA and ES256)', async () => {
  const ed = await makeChain(ALG_EDDSA); // root EdDSA -> agency ES256 -> device EdDSA
  const es = await makeChain(ALG_ES256); // same, with an ES256 device
  const key = (s: Signer) => toHex(encodeCoseKey(pubOf(s)));

  // ---- ours -> theirs ----
  const edReading = await signReading(ed.device, sensorClaims(ed, 42));
  const esReading = await signReading(es.device, sensorClaims(es, 43));
  const verifyJobs: VerifyJob[] = [
    { name: 'ed25519 reading', bytes: toHex(edReading), key: key(ed.device) },
    { name: 'es256 reading', bytes: toHex(esReading), key: key(es.device) },
    { name: 'root cert (ed25519, self-signed)', bytes: toHex(ed.rootCert.bytes), key: key(ed.root) },
    { name: 'agency cert (ed25519 root)', bytes: toHex(ed.agencyCert.bytes), key: key(ed.root) },
    { name: 'device cert (es256 agency)', bytes: toHex(ed.deviceCert.bytes), key: key(ed.agency) },
    { name: 'tampered ed25519 reading', bytes: flip(toHex(edReading)), key: key(ed.device) },
    { name: 'tampered ed25519 cert', bytes: flip(toHex(ed.agencyCert.bytes)), key: key(ed.root) },
    { name: 'ed25519 reading, wrong key', bytes: toHex(edReading), key: key(ed.root) },
  ];

  // ---- theirs -> ours ----
  const window = { iat: NOW - DAY, nbf: NOW - DAY, exp: NOW + 365 * DAY };
  const agencyPayload = encode(claimsToMap({
    iss: 'root.example', sub: 'psb.example', role: 'agency', holderKey: pubOf(ed.agency), cti: new Uint8Array(16).fill(9), ...window,
  }));
  const devicePayload = encode(claimsToMap({
    iss: 'psb.example', sub: ed.deviceIdHex, role: 'device', holderKey: pubOf(ed.device), cti: new Uint8Array(16).fill(10), ...window,
    profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE },
  }));
  const signJobs: SignJob[] = [
    {
      name: 'ed25519 reading', alg: ALG_EDDSA, key: privateCoseKey(ed.device, seedKey(`device-${ALG_EDDSA}`)),
      contentType: CT_READING, kid: toHex(kidOf(ed.device)), payload: toHex(encode(readingClaimsToMap(sensorClaims(ed, 7)))),
    },
    {
      name: 'es256 reading', alg: ALG_ES256, key: privateCoseKey(es.device, seedKey(`device-${ALG_ES256}`)),
      contentType: CT_READING, kid: toHex(kidOf(es.device)), payload: toHex(encode(readingClaimsToMap(sensorClaims(es, 8)))),
    },
    {
      name: 'agency cert (ed25519 root)', alg: ALG_EDDSA, key: privateCoseKey(ed.root, seedKey('root')),
      contentType: CT_CERTIFICATE, kid: toHex(kidOf(ed.root)), payload: toHex(agencyPayload),
    },
    {
      name: 'device cert (es256 agency)', alg: ALG_ES256, key: privateCoseKey(ed.agency, seedKey('agency')),
      contentType: CT_CERTIFICATE, kid: toHex(kidOf(ed.agency)), payload: toHex(devicePayload),
    },
    { name: 'generated ed25519', alg: ALG_EDDSA, payload: toHex(new TextEncoder().encode('hello from @auth0/cose')) },
    { name: 'generated es256', alg: ALG_ES256, payload: toHex(new TextEncoder().encode('hello from @auth0/cose')) },
  ];

  const result = peer(verifyJobs, signJobs);
  const verified = (name: string) => result.verified.find((v) => v.name === name)!;
  const signed = (name: string) => fromHex(result.signed.find((s) => s.name === name)!.bytes);

  it('verifies our Ed25519 and ES256 readings, with keys imported from our COSE_Key', () => {
    for (const [name, bytes, alg, signer] of [
      ['ed25519 reading', edReading, ALG_EDDSA, ed.device], ['es256 reading', esReading, ALG_ES256, es.device],
    ] as const) {
      const v = verified(name);
      expect(v, v.error).toMatchObject({ ok: true, alg, kid: toHex(kidOf(signer)) });
      expect(v.payload).toBe(toHex(openReading(bytes).sign1.payload));
    }
  });

  it('verifies our certificates (Ed25519 root and agency, ES256-signed device)', () => {
    for (const name of ['root cert (ed25519, self-signed)', 'agency cert (ed25519 root)', 'device cert (es256 agency)']) {
      expect(verified(name), name).toMatchObject({ ok: true });
    }
    expect(verified('agency cert (ed25519 root)').payload).toBe(toHex(ed.agencyCert.sign1.payload));
  });

  it('rejects a one-bit change and the wrong key', () => {
    for (const name of ['tampered ed25519 reading', 'tampered ed25519 cert', 'ed25519 reading, wrong key']) {
      expect(verified(name), name).toMatchObject({ ok: false, error: 'ERR_COSE_SIGNATURE_VERIFICATION_FAILED' });
    }
  });

  it('its Sign1 objects pass our decodeSign1 (strict) and verifySign1, under both verifiers', () => {
    for (const [name, signer] of [['ed25519 reading', ed.device], ['es256 reading', es.device]] as const) {
      const s1 = decodeSign1(signed(name), { strict: true });
      expect(s1.alg).toBe(signer.alg);
      expect(s1.protectedHeaders.get(HDR_ALG)).toBe(signer.alg);
      expect(s1.protectedHeaders.get(HDR_CONTENT_TYPE)).toBe(CT_READING);
      expect(toHex(s1.protectedHeaders.get(HDR_KID) as Uint8Array)).toBe(toHex(kidOf(signer)));
      for (const verifier of [nobleVerify, nodeVerify]) expect(() => verifySign1(s1, pubOf(signer), { verifier })).not.toThrow();
      const bad = { ...s1, signature: fromHex(flip(toHex(s1.signature))) };
      for (const verifier of [nobleVerify, nodeVerify]) expect(() => verifySign1(bad, pubOf(signer), { verifier })).toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE', message: expect.stringMatching(/signature/) }));
    }
  });

  it('its readings verify as readings (verifyReading against our device certificates)', () => {
    for (const [name, c, seq] of [['ed25519 reading', ed, 7], ['es256 reading', es, 8]] as const) {
      const opened = openReading(signed(name));
      for (const verifier of [nobleVerify, nodeVerify]) expect(verifyReading(opened, c.deviceCert, { verifier }).seq).toBe(seq);
    }
  });

  it('its certificates (Ed25519 root -> agency, ES256 agency -> device) validate as a chain', () => {
    const agency = decodeCertificate(signed('agency cert (ed25519 root)'));
    const device = decodeCertificate(signed('device cert (es256 agency)'));
    expect(agency.sign1.alg).toBe(ALG_EDDSA);
    expect(device.sign1.alg).toBe(ALG_ES256);
    const chain = validateChain([device, agency], ed.anchors, NOW);
    expect(chain.leaf.claims.sub).toBe(ed.deviceIdHex);
    const reading = openReading(edReading);
    expect(verifyReading(reading, device).seq).toBe(42);
  });

  it('Sign1 under a key it generated verifies with its exported COSE_Key', () => {
    for (const [name, alg] of [['generated ed25519', ALG_EDDSA], ['generated es256', ALG_ES256]] as const) {
      const entry = result.signed.find((s) => s.name === name)!;
      const pub = coseKeyFromMap(decode(fromHex(entry.publicKey!)));
      expect(pub.alg).toBe(alg);
      const s1 = decodeSign1(fromHex(entry.bytes));
      expect(new TextDecoder().decode(s1.payload)).toBe('hello from @auth0/cose');
      for (const verifier of [nobleVerify, nodeVerify]) expect(() => verifySign1(s1, pub, { verifier })).not.toThrow();
    }
  });
});
