// Strict parsing: structures that are well-formed CBOR and correctly signed, but break one rule of their format,
// are refused with their error code. Each case comes with a control (the same construction, rule kept, accepted).
import { describe, expect, it } from 'vitest';
import {
  decodeStrict, encode, createSign1, sigStructure, Tag, openReading, signReading, readingClaimsToMap, CLAIM_UEID, CLAIM_FIRMWARE,
  CT_READING, CT_CERTIFICATE, CT_REVOCATION, claimsToMap, decodeCertificate, issueCertificate, verifyRevocation, decodeRevocation, decodeLogEntry,
  encodeLogEntry, formatCheckpoint, signNote, openCheckpoint, parseVerifierKey, formatVerifierKey, ed25519NoteSigner, toBase64,
  concatBytes, utf8ToBytes, encodeReceipt, decodeReceipt, encodeRejection, decodeRejection, decodeBlockHeader, encodeBlockHeader,
  encodeProofBundle, decodeProofBundle, type Signer, type ErrorCode, type ProofBundle, type BlockHeader,
} from '../../protocol/index.js';
import { makeChain, sensorClaims, kidOf, pubOf, FIRMWARE, NOW, codeOf, codeOfSync } from './fixtures.js';

const signed = (s: Signer, m: Map<unknown, unknown>, contentType: number) => createSign1({ signer: s, payload: encode(m), kid: kidOf(s), contentType });
const bytes = (...b: number[]) => new Uint8Array(b);

describe('strict CBOR and envelopes', async () => {
  const c = await makeChain();

  it('decodeStrict: a map with duplicate byte-string keys is MALFORMED', () => {
    // guards cbor.ts: the duplicate-key check (distinct Uint8Array keys survive decoding as two entries)
    expect(decodeStrict(bytes(0xa2, 0x41, 1, 1, 0x41, 2, 2))).toBeInstanceOf(Map);
    expect(codeOfSync(() => decodeStrict(bytes(0xa2, 0x41, 1, 1, 0x41, 1, 2)))).toBe('MALFORMED');
  });

  it('an envelope with an extra protected header label (crit, 2) is MALFORMED', async () => {
    // guards envelope.ts: only alg, content type and kid in the protected bucket
    const payload = encode(readingClaimsToMap(sensorClaims(c)));
    const envelope = async (prot: Map<number, unknown>) => {
      const p = encode(prot);
      return encode(new Tag([p, new Map(), payload, await c.device.sign(sigStructure(p, new Uint8Array(0), payload))], 18));
    };
    const prot = new Map<number, unknown>([[1, c.device.alg], [3, CT_READING], [4, kidOf(c.device)]]);
    expect(openReading(await envelope(prot)).claims.seq).toBe(1);
    prot.set(2, [-65600]);
    expect(await codeOf(async () => openReading(await envelope(prot)))).toBe('MALFORMED');
  });

  it('a log entry not deterministically encoded is MALFORMED', () => {
    // guards log-entry.ts: the re-encoding comparison (non-shortest integer; keys out of order)
    const good = encodeLogEntry({ type: 1, index: 5, receivedAtMs: 1000, payload: bytes(0xaa) });
    expect(good).toEqual(bytes(0xa4, 1, 1, 2, 5, 3, 0x19, 0x03, 0xe8, 4, 0x41, 0xaa));
    expect(decodeLogEntry(good).index).toBe(5);
    expect(codeOfSync(() => decodeLogEntry(bytes(0xa4, 1, 1, 2, 0x18, 5, 3, 0x19, 0x03, 0xe8, 4, 0x41, 0xaa)))).toBe('MALFORMED');
    expect(codeOfSync(() => decodeLogEntry(bytes(0xa4, 2, 5, 1, 1, 3, 0x19, 0x03, 0xe8, 4, 0x41, 0xaa)))).toBe('MALFORMED');
  });
});

describe('readings, certificates, revocations', async () => {
  const c = await makeChain();
  const reading = (change: (m: Map<unknown, unknown>) => void) => {
    const m = readingClaimsToMap(sensorClaims(c));
    change(m);
    return signed(c.device, m, CT_READING);
  };

  it('a sensor body of type "biometric" is CLAIM_INVALID (opened and signed)', async () => {
    // guards reading.ts: biometric events use the biometric body
    const body = { kind: 'sensor' as const, type: 'biometric', value: 1, scale: 0, unit: 'x' };
    expect(await codeOf(async () => openReading(await signed(c.device, readingClaimsToMap(sensorClaims(c, 1, { body })), CT_READING)))).toBe('CLAIM_INVALID');
    expect(await codeOf(() => signReading(c.device, sensorClaims(c, 1, { body })))).toBe('CLAIM_INVALID');
    expect(openReading(await signReading(c.device, sensorClaims(c))).claims.seq).toBe(1);
  });

  it('byte strings over their length are CLAIM_INVALID: ueid, fwm, cti', async () => {
    // guards schema.ts checkBytes: the maximum length
    const ueid = new Uint8Array(18).fill(1);
    expect(await codeOf(async () => openReading(await reading((m) => m.set(CLAIM_UEID, ueid))))).toBe('CLAIM_INVALID');
    expect(await codeOf(async () => openReading(await reading((m) => m.set(CLAIM_FIRMWARE, concatBytes(FIRMWARE, bytes(0))))))).toBe('CLAIM_INVALID');
    expect(await codeOf(async () => decodeCertificate(await signed(c.root, claimsToMap({ ...c.agencyCert.claims, cti: new Uint8Array(17) }), CT_CERTIFICATE)))).toBe('CLAIM_INVALID');
    expect(decodeCertificate(await signed(c.root, claimsToMap({ ...c.agencyCert.claims, cti: new Uint8Array(16) }), CT_CERTIFICATE)).claims.sub).toBe('psb.example');
  });

  it('a revocation whose sub is not the certificate subject is CLAIM_INVALID', async () => {
    // guards revocation.ts verifyRevocation: sub check
    const rev = (sub: string) => signed(c.agency, new Map<unknown, unknown>([[1, c.deviceCert.certRef], [2, sub], [3, 'keyCompromise'], [4, NOW], [6, NOW]]), CT_REVOCATION);
    expect(verifyRevocation(await rev(c.deviceIdHex), c.deviceCert, pubOf(c.agency)).claims.sub).toBe(c.deviceIdHex);
    expect(await codeOf(async () => verifyRevocation(await rev('someone-else'), c.deviceCert, pubOf(c.agency)))).toBe('CLAIM_INVALID');
  });

  it('an empty text claim is CLAIM_INVALID: a revocation with sub ""', async () => {
    // guards schema.ts checkText: the length 0 refusal (revocation sub has a maximum and no pattern, so nothing else refuses it)
    const rev = (sub: string) => signed(c.agency, new Map<unknown, unknown>([[1, c.deviceCert.certRef], [2, sub], [3, 'keyCompromise'], [4, NOW], [6, NOW]]), CT_REVOCATION);
    expect(decodeRevocation(await rev(c.deviceIdHex)).claims.sub).toBe(c.deviceIdHex);
    expect(await codeOf(async () => decodeRevocation(await rev('')))).toBe('CLAIM_INVALID');
  });

  it('an agency or root certificate carrying a device profile is CLAIM_INVALID', async () => {
    // guards certificate.ts: no device profile outside device certificates
    const profile = { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE };
    expect(await codeOf(async () => decodeCertificate(await signed(c.root, claimsToMap({ ...c.agencyCert.claims, profile }), CT_CERTIFICATE)))).toBe('CLAIM_INVALID');
    expect(await codeOf(async () => decodeCertificate(await signed(c.root, claimsToMap({ ...c.rootCert.claims, profile }), CT_CERTIFICATE)))).toBe('CLAIM_INVALID');
    expect(decodeCertificate(await signed(c.root, claimsToMap({ ...c.rootCert.claims }), CT_CERTIFICATE)).claims.role).toBe('root');
  });

  it('a root certificate with iss != sub is CLAIM_INVALID (decoded and issued)', async () => {
    // guards certificate.ts: a root certificate is self-issued
    const claims = { ...c.rootCert.claims, iss: 'other.example' };
    expect(await codeOf(async () => decodeCertificate(await signed(c.root, claimsToMap(claims), CT_CERTIFICATE)))).toBe('CLAIM_INVALID');
    expect(await codeOf(() => issueCertificate(c.root, kidOf(c.root), claims))).toBe('CLAIM_INVALID');
  });

  it('a device profile with duplicate readingTypes is CLAIM_INVALID (decoded and issued)', async () => {
    // guards certificate.ts parseProfile: readingTypes has duplicates
    const claims = { ...c.deviceCert.claims, profile: { ...c.deviceCert.claims.profile!, readingTypes: ['temperature', 'humidity', 'temperature'] } };
    expect(await codeOf(async () => decodeCertificate(await signed(c.agency, claimsToMap(claims), CT_CERTIFICATE)))).toBe('CLAIM_INVALID');
    expect(await codeOf(() => issueCertificate(c.agency, kidOf(c.agency), claims))).toBe('CLAIM_INVALID');
    expect(decodeCertificate(await signed(c.agency, claimsToMap(c.deviceCert.claims), CT_CERTIFICATE)).claims.role).toBe('device');
  });
});

describe('checkpoints, receipts, bundles', () => {
  const s = ed25519NoteSigner('log.example', new Uint8Array(32).fill(5));
  const trusted = [parseVerifierKey(formatVerifierKey(s.name, s.publicKey))];
  const text = formatCheckpoint({ origin: 'log.example', size: 1, root: new Uint8Array(32), extensions: [] });

  it('a note with more than 100 signatures is CHECKPOINT_INVALID', async () => {
    // guards checkpoint.ts parseNote: MAX_NOTE_SIGNATURES (unknown witnesses' lines would otherwise be ignored)
    const witnesses = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `w${i}`, keyId: bytes(1, 2, 3, i), signature: new Uint8Array(64) }));
    expect(openCheckpoint(await signNote(text, [s], witnesses(99)), trusted).size).toBe(1);
    const note = await signNote(text, [s], witnesses(100));
    expect(codeOfSync(() => openCheckpoint(note, trusted))).toBe('CHECKPOINT_INVALID');
  });

  it('a note with a control character is CHECKPOINT_INVALID (opened and signed)', async () => {
    // guards checkpoint.ts checkText: no control characters but newline
    const tabbed = `${text}ext\tline\n`;
    const note = `${tabbed}\n\u2014 ${s.name} ${toBase64(concatBytes(s.keyId, await s.sign(utf8ToBytes(tabbed))))}\n`;
    expect(codeOfSync(() => openCheckpoint(note, trusted))).toBe('CHECKPOINT_INVALID');
    expect(await codeOf(() => signNote(tabbed, [s]))).toBe('CHECKPOINT_INVALID');
    expect(openCheckpoint(await signNote(`${text}ext line\n`, [s]), trusted).extensions).toEqual(['ext line']);
  });

  it('a receipt over its size limit is TOO_LARGE, even when otherwise valid', () => {
    // guards receipt.ts decodeReceipt: MAX_RECEIPT_BYTES (a checkpoint of 1500 three-byte characters is 4500 bytes)
    const receipt = (chars: number) => encodeReceipt({ seq: 1, index: 2, receivedAtMs: 3, certRef: new Uint8Array(32), leafHash: new Uint8Array(32), checkpoint: '\u20ac'.repeat(chars) });
    expect(decodeReceipt(receipt(1300)).seq).toBe(1);
    expect(receipt(1500).length).toBeGreaterThan(4096);
    expect(codeOfSync(() => decodeReceipt(receipt(1500)))).toBe('TOO_LARGE');
  });

  it('a rejection with an unknown code is MALFORMED', () => {
    // guards receipt.ts decodeRejection: isErrorCode
    const rejection = (code: string) => encodeRejection({ seq: 1, code: code as ErrorCode, message: 'm', path: '' });
    expect(decodeRejection(rejection('REPLAY')).code).toBe('REPLAY');
    expect(codeOfSync(() => decodeRejection(rejection('NOT_A_CODE')))).toBe('MALFORMED');
  });

  const header: BlockHeader = { height: 0, prevHash: new Uint8Array(32), firstIndex: 0, lastIndex: 4, treeSize: 5, root: new Uint8Array(32), timeMs: 1000 };
  const headerMap = (h: BlockHeader) => new Map<number, unknown>([[1, h.height], [2, h.prevHash], [3, h.firstIndex], [4, h.lastIndex], [5, h.treeSize], [6, h.root], [7, h.timeMs]]);

  it('unknown keys in a block header, a proof bundle or its consistency map are MALFORMED', () => {
    // guards bundle.ts checkKeys
    expect(decodeBlockHeader(encodeBlockHeader(header)).treeSize).toBe(5);
    expect(codeOfSync(() => decodeBlockHeader(encode(headerMap(header).set(8, 1))))).toBe('MALFORMED');
    const bundle: ProofBundle = {
      entry: encodeLogEntry({ type: 1, index: 0, receivedAtMs: 1, payload: bytes(1) }), index: 0, treeSize: 1, inclusionProof: [], checkpoint: 'cp',
      blockHeader: encodeBlockHeader(header), certificates: [], revocations: [], consistency: { fromSize: 1, proof: [] },
    };
    const good = encodeProofBundle(bundle);
    expect(decodeProofBundle(good).consistency).toEqual({ fromSize: 1, proof: [] });
    const m = decodeStrict(good) as Map<number, unknown>;
    expect(codeOfSync(() => decodeProofBundle(encode(new Map(m).set(10, 1))))).toBe('MALFORMED');
    expect(codeOfSync(() => decodeProofBundle(encode(new Map(m).set(9, new Map<number, unknown>([[1, 1], [2, []], [3, 0]])))))).toBe('MALFORMED');
  });

  it('a block header whose indexes are inconsistent is MALFORMED', () => {
    // guards bundle.ts decodeBlockHeader: lastIndex >= firstIndex and treeSize = lastIndex + 1
    expect(codeOfSync(() => decodeBlockHeader(encode(headerMap({ ...header, treeSize: 6 }))))).toBe('MALFORMED');
    expect(codeOfSync(() => decodeBlockHeader(encode(headerMap({ ...header, firstIndex: 5 }))))).toBe('MALFORMED');
  });
});
