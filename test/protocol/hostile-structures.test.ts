/**
 * Hostile structures found by review that the strict decoder lets through to the schema layer, each with its code:
 * raw biometric data hidden in a tag or a map key, private or unknown COSE_Key parameters in a certificate, a
 * checkpoint key anyone could sign for, cbor-x record objects in a log entry.
 */
import { describe, expect, it } from 'vitest';
import {
  openReading, readingClaimsToMap, createSign1, encode, CT_READING, CT_CERTIFICATE, subjectCommitment, CLAIM_BIOMETRIC, CLAIM_SENSOR, Tag,
  claimsToMap, decodeCertificate, decodeLogEntry, parseVerifierKey, parseTrustText, noteKeyId, toBase64, toHex, concatBytes, utf8ToBytes,
  CLAIM_CNF, type Signer,
} from '../../protocol/index.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { makeChain, sensorClaims, kidOf, codeOf, codeOfSync } from './fixtures.js';

const signed = (s: Signer, m: Map<unknown, unknown>, contentType = CT_READING) => createSign1({ signer: s, payload: encode(m), kid: kidOf(s), contentType });
const bio = { kind: 'biometric' as const, purpose: 'door-access', result: 'match' as const, score: 870, subjectCommitment: subjectCommitment(new Uint8Array(16).fill(7), 'e-1') };

describe('raw biometric data is BIOMETRIC_RAW_DATA wherever it hides', async () => {
  const c = await makeChain();
  const fmr = new Uint8Array(600);
  fmr.set([0x46, 0x4d, 0x52, 0x00]); // ISO/IEC 19794-2 finger minutiae record magic "FMR\0"
  const bioMap = () => readingClaimsToMap(sensorClaims(c, 1, { body: bio }));
  const sensorMap = () => readingClaimsToMap(sensorClaims(c));
  const cases: [string, () => Map<unknown, unknown>][] = [
    ['as the value of an extra biometric field', () => { const m = bioMap(); (m.get(CLAIM_BIOMETRIC) as Map<unknown, unknown>).set(5, fmr); return m; }],
    ['in a biometric field, wrapped in tag 24', () => { const m = bioMap(); (m.get(CLAIM_BIOMETRIC) as Map<unknown, unknown>).set(4, new Tag(fmr, 24)); return m; }],
    ['in a biometric field, wrapped in tag 1000', () => { const m = bioMap(); (m.get(CLAIM_BIOMETRIC) as Map<unknown, unknown>).set(1, new Tag(fmr, 1000)); return m; }],
    ['the biometric body in a tag', () => { const m = bioMap(); m.set(CLAIM_BIOMETRIC, new Tag(new Map<unknown, unknown>([[1, 'x'], [9, fmr]]), 1000)); return m; }],
    ['a sensor reading, in a tag under an unknown key', () => { const m = sensorMap(); m.set(-70000, new Tag(fmr, 24)); return m; }],
    ['a sensor reading, as a map key', () => { const m = sensorMap(); m.set(fmr.subarray(0, 300), 1); return m; }],
    ['a sensor body, as a key inside it', () => { const m = sensorMap(); (m.get(CLAIM_SENSOR) as Map<unknown, unknown>).set(fmr.subarray(0, 300), 1); return m; }],
  ];
  for (const [where, build] of cases) {
    it(where, async () => {
      expect(await codeOf(async () => openReading(await signed(c.device, build(), CT_READING), { maxBytes: 4096 }))).toBe('BIOMETRIC_RAW_DATA');
    });
  }
});

describe("a certificate's COSE_Key is closed (RFC 9053 §7.1, §7.2)", async () => {
  const c = await makeChain();
  const withKeyParam = async (label: number, value: unknown) => {
    const m = claimsToMap({ ...c.agencyCert.claims });
    const cnf = new Map(m.get(CLAIM_CNF) as Map<unknown, unknown>);
    cnf.set(1, new Map([...(cnf.get(1) as Map<unknown, unknown>), [label, value]]));
    m.set(CLAIM_CNF, cnf);
    return signed(c.root, m, CT_CERTIFICATE);
  };
  it('CLAIM_INVALID: a private key d (-4), a kid (2), a private-use parameter', async () => {
    for (const [label, value] of [[-4, new Uint8Array(32).fill(1)], [2, new Uint8Array(200)], [-100, 'anything']] as const) {
      expect(await codeOf(async () => decodeCertificate(await withKeyParam(label, value)))).toBe('CLAIM_INVALID');
    }
    expect(decodeCertificate(c.agencyCert.bytes).claims.sub).toBe('psb.example');
  });
});

describe('checkpoint keys anyone could sign for are refused', () => {
  const keyOf = (name: string, pub: Uint8Array) => `${name}+${toHex(noteKeyId(name, pub))}+${toBase64(concatBytes(Uint8Array.of(1), pub))}`;
  it('CHECKPOINT_INVALID: the identity point, a non-canonical encoding, in a verifier key and in a trust file', () => {
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const nonCanonical = new Uint8Array(32).fill(0xff);
    nonCanonical[31] = 0x7f; // y = 2^255 - 1 >= p
    for (const pub of [identity, nonCanonical]) {
      expect(codeOfSync(() => parseVerifierKey(keyOf('log.example', pub)))).toBe('CHECKPOINT_INVALID');
      expect(codeOfSync(() => parseTrustText(JSON.stringify({ checkpointKeys: [keyOf('log.example', pub)] })))).toBe('CHECKPOINT_INVALID');
    }
  });
  it('CHECKPOINT_INVALID: key names with a Unicode space (U+0085) or a lone surrogate; U+FEFF is a name character (C2SP, as Go)', () => {
    const pub = ed25519.getPublicKey(new Uint8Array(32).fill(9));
    expect(codeOfSync(() => parseVerifierKey(keyOf('log\u0085example', pub)))).toBe('CHECKPOINT_INVALID');
    expect(codeOfSync(() => parseVerifierKey(keyOf('log\ud800example', pub)))).toBe('CHECKPOINT_INVALID');
    expect(parseVerifierKey(keyOf('log\ufeffexample', pub)).name).toBe('log\ufeffexample');
    expect(parseVerifierKey(keyOf('log.example', pub)).name).toBe('log.example');
  });
});

describe('log entries with cbor-x record objects', () => {
  // cbor-x still builds objects from its record tags (0xdfff inline, 105 legacy); their keys are the sender's.
  const rec = Uint8Array.from([0xd9, 0xdf, 0xff, 0x83, 0x19, 0xe0, 0x00, 0x81, 0x68, ...utf8ToBytes('toString'), 0x01]);
  it('MALFORMED, not a TypeError, as a key or as the type', () => {
    expect(codeOfSync(() => decodeLogEntry(Uint8Array.from([0xa1, ...rec, 0x01])))).toBe('MALFORMED');
    expect(codeOfSync(() => decodeLogEntry(Uint8Array.from([0xa1, 0x01, ...rec])))).toBe('MALFORMED');
    expect(codeOfSync(() => decodeLogEntry(Uint8Array.from([0xa1, 0x01, 0xd8, 0x69, 0x83, 0x19, 0xe0, 0x00, 0x81, 0x68, ...utf8ToBytes('toString'), 0x01])))).toBe('MALFORMED');
  });
});
