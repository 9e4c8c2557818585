/**
 * Every worked example and stated figure of firmware-specs/SPEC.md, read out of the text and checked against the
 * vectors and the code: the annotated bytes of §3 line by line, the thumbprint and Sig_structure templates, each map
 * layout (claims, bodies, proof of possession, connect token, receipt, log entry, rejection), the note formats, the
 * CONNACK table and the limits. A SPEC example that drifts from the code fails here (firmware-vectors.test.ts
 * checks the vectors themselves against the code).
 */
import { readFileSync } from 'node:fs';
import { Decoder, Tag } from 'cbor-x';
import { describe, expect, test } from 'vitest';
import {
  ALG_EDDSA, ALG_ES256, BIO_PURPOSE, BIO_RESULT, BIO_SCORE, BIO_SUBJECT_COMMITMENT, CT_CONNECT_TOKEN, CT_PROOF_OF_POSSESSION, CT_READING,
  DEVICE_ID_LENGTH, ENTRY_READING, ERROR_CODES, MAX_CONNECT_TOKEN_BYTES, MAX_READING_BYTES, MAX_RECEIPT_BYTES, MAX_REJECTION_MESSAGE,
  MAX_REJECTION_PATH, MAX_TOKEN_LIFETIME_SECONDS, OriginProofError, SENSOR_SCALE, SENSOR_TYPE, SENSOR_UNIT, SENSOR_VALUE,
  CLAIM_PROOF_OF_POSSESSION, ENTITY_ID, TOKEN_NAME, TOPIC_QOS, readingsTopic, receiptsTopic, rejectionsTopic, createProofOfPossession, decimalText, isUeidHex, parseBiometricBody, readingClaimsFromMap, decodeCertificate, decodeReceipt, encode, encodeLogEntry, encodeRejection, fromBase64, fromHex,
  keyThumbprint, nobleSigner, nobleVerify, publicKey, publicKeyFromSecret, sha256, sigStructure, subjectCommitment, toHex, utf8ToBytes,
  verifyProofOfPossession, type Alg,
} from '../../protocol/index.js';
import { connackCodeFor, FIRMWARE_REFUSALS } from '../../gateway/mqtt/connack.js';
import { mqttFrameCap } from '../../gateway/mqtt/frame-cap.js';
import { RECEIPT_QOS } from '../../gateway/mqtt/device-connections.js';
import { DEFAULT_CONFIG, GatewayConfigSchema } from '../../gateway/config.js';
import { KEEP_CODES, STOP_CODES } from '../../device-sim/answers.js';
import { Backoff, NOT_AUTHORIZED_BACKOFF } from '../../device-sim/backoff.js';

const specDir = new URL('../../firmware-specs/', import.meta.url);
const spec = readFileSync(new URL('SPEC.md', specDir), 'utf8');
/** The text with its line breaks (and the indentation after them) as single spaces: sentences wrap anywhere. */
const flat = spec.replace(/\n[ \t]*/g, ' ');
const dec = new Decoder({ useRecords: false, mapsAsObjects: false } as never);
const raw = (bytes: Uint8Array): unknown => dec.decode(bytes);
const hex = toHex;

type V = { name: string; alg: 'EdDSA' | 'ES256'; publicKey: string; secretKey?: string; cbor: string; valid: boolean; expectedError?: string; now: number; chain?: string[]; params?: Record<string, string | number> };
const vectors = (f: string): V[] => (JSON.parse(readFileSync(new URL(`vectors/${f}`, specDir), 'utf8')) as { vectors: V[] }).vectors;
const algOf = (v: V): Alg => (v.alg === 'EdDSA' ? ALG_EDDSA : ALG_ES256);
const validReadings = vectors('readings.json').filter((v) => v.valid);

/** The first match of `re` in the flattened SPEC (the test fails when the sentence is gone). */
function stated(re: RegExp): RegExpExecArray {
  const m = re.exec(flat);
  expect(m, `SPEC.md no longer says ${re}`).not.toBeNull();
  return m!;
}
const num = (s: string): number => Number(s.replace(/,/g, ''));

/** A map layout as SPEC writes it, `{k: description, ...}`: [key, first word of the description]. */
function layout(text: string): [number, string][] {
  const inner = text.replace(/^\{|\}$/g, '');
  return inner.split(/,\s*(?=-?\d+:)/).map((e) => {
    const m = /^(-?\d+):\s*(.*)$/.exec(e.trim())!;
    return [Number(m[1]), m[2]!.trim()];
  });
}
/** The first backquoted `{...}` after `anchor`. */
function layoutAfter(anchor: string): [number, string][] {
  const at = flat.indexOf(anchor);
  expect(at, `SPEC.md no longer has "${anchor}"`).toBeGreaterThanOrEqual(0);
  const m = /`(\{[^`]*\})`/.exec(flat.slice(at))!;
  return layout(m[1]!);
}
const word = (desc: string): string => /^"?([A-Za-z]+)/.exec(desc)![1]!;

// ---------------------------------------------------------------- §3 worked example, line by line

/** One CBOR data item head per call (content included for text, and for a byte string whose bytes follow on the line). */
function items(bytes: Uint8Array): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i++]!;
    const [mt, ai] = [b >> 5, b & 31];
    let arg = BigInt(ai);
    if (ai >= 24 && ai <= 27) {
      const n = 1 << (ai - 24);
      arg = 0n;
      for (let k = 0; k < n; k++) arg = (arg << 8n) | BigInt(bytes[i++]!);
    }
    const n = Number(arg);
    if (mt === 0) out.push(String(arg));
    else if (mt === 1) out.push(String(-1n - arg));
    else if (mt === 2) {
      if (i === bytes.length) out.push(`bstr(${n})`); // its bytes follow, on the next lines
      else (out.push(`h'${hex(bytes.subarray(i, i + n))}'`), (i += n));
    } else if (mt === 3) (out.push(JSON.stringify(new TextDecoder().decode(bytes.subarray(i, i + n)))), (i += n));
    else if (mt === 4) out.push(`array(${n})`);
    else if (mt === 5) out.push(n === 0 ? '{}' : `map(${n})`);
    else if (mt === 6) out.push(`tag ${n}`);
    else out.push(`simple ${n}`);
  }
  return out;
}

/** What an annotation names, in order: `1 (alg): -8 EdDSA` -> ["1", "-8"]; parenthesised words are comments. */
function annotated(comment: string): string[] {
  return [...comment.replace(/ \([^)]*\)/g, '').matchAll(/tag \d+|array\(\d+\)|map\(\d+\)|bstr\(\d+\)|"[^"]*"|\{\}|-?\d+/g)].map((m) => m[0]);
}

describe('SPEC §3 worked example', () => {
  const name = stated(/Worked example: vector `([A-Za-z0-9-]+)`/)[1]!;
  const v = vectors('readings.json').find((x) => x.name === name)!;
  const start = spec.indexOf('```', spec.indexOf('Worked example:'));
  const block = spec.slice(start + 4, spec.indexOf('```', start + 3));
  const lines = block.split('\n').filter((l) => l.trim() !== '');

  test('names a valid vector whose secret key gives its public key (Ed25519 test key)', () => {
    expect(v?.valid).toBe(true);
    expect(v.alg).toBe('EdDSA');
    expect(hex(publicKeyFromSecret(ALG_EDDSA, fromHex(v.secretKey!)))).toBe(v.publicKey);
  });

  test('each line decodes to what its annotation says, and the lines make up the vector', () => {
    const key = publicKey(ALG_EDDSA, fromHex(v.publicKey));
    const kid = keyThumbprint(key);
    const [prot, , payload, signature] = (raw(fromHex(v.cbor)) as Tag).value as Uint8Array[];
    const fwm = decodeCertificate(fromHex(v.chain![0]!)).claims.profile!.firmware;
    let all = '';
    let pending: { n: number; what: string } | undefined; // a byte string whose bytes are on the next line
    for (const line of lines) {
      const m = /^(\s*)([0-9a-f]+)\s*(.*)$/.exec(line);
      expect(m, line).not.toBeNull();
      const [, indent, h, comment] = m as unknown as [string, string, string, string];
      const bytes = fromHex(h);
      all += h;
      if (indent.length > 0) {
        // the bytes of the byte string announced on the line before
        expect(pending, line).toBeDefined();
        expect(bytes.length, line).toBe(pending!.n);
        if (/thumbprint of the device key/.test(comment)) expect(h).toBe(hex(kid));
        else if (/device id = 01 \|\| kid\[0\.\.16\]/.test(comment)) expect(h).toBe(`01${hex(kid.subarray(0, 16))}`);
        else if (/firmware SHA-256/.test(comment)) expect(h).toBe(hex(fwm));
        else if (pending!.what === 'signature') {
          expect(h).toBe(hex(signature!));
          expect(nobleVerify(ALG_EDDSA, key.raw, sigStructure(prot!, new Uint8Array(0), payload!), bytes)).toBe(true);
        } else throw new Error(`SPEC.md: no check for the bytes "${line.trim()}"`);
        pending = undefined;
        continue;
      }
      const got = items(bytes);
      expect(got, line).toEqual(annotated(comment));
      const last = got[got.length - 1]!;
      const b = /^bstr\((\d+)\)$/.exec(last);
      // bstr(42) protected header and bstr(103) payload are CBOR, annotated on the lines after; others are raw bytes
      if (b && !/protected header|payload/.test(comment)) pending = { n: Number(b[1]), what: /signature/.test(comment) ? 'signature' : '' };
    }
    expect(pending).toBeUndefined();
    expect(all).toBe(v.cbor);
  });

  test('21.5 °C is value 215, scale -1, unit "Cel", as the example carries it', () => {
    const [, value, scale, unit] = stated(/21\.5 °C is value (\d+), scale (-?\d+), unit "(\w+)"/);
    expect(decimalText(Number(value), Number(scale))).toBe('21.5');
    const claims = raw((raw(fromHex(v.cbor)) as Tag).value[2]) as Map<number, unknown>;
    const body = claims.get(-65541) as Map<number, unknown>;
    expect([body.get(SENSOR_VALUE), body.get(SENSOR_SCALE), body.get(SENSOR_UNIT)]).toEqual([Number(value), Number(scale), unit]);
  });
});

// ---------------------------------------------------------------- §1 keys, §3 layouts, against every valid reading

describe('SPEC §1 and §3 templates, on every valid reading vector', () => {
  test('kid: SHA-256 of the spelled-out COSE_Key bytes, which decode to the map SPEC gives', () => {
    for (const [alg, label] of [[ALG_EDDSA, 'Ed25519'], [ALG_ES256, 'P-256']] as const) {
      const m = stated(new RegExp(`- ${label}: \`([^\`]+)\` \\(\`(\\{[^\`]+\\})\`\\)`));
      const ofAlg = validReadings.filter((x) => algOf(x) === alg);
      expect(ofAlg.length, `valid ${label} reading vectors`).toBeGreaterThan(0); // else this template is checked on none
      for (const v of ofAlg) {
        const pub = fromHex(v.publicKey);
        const parts = { x: alg === ALG_EDDSA ? pub : pub.subarray(1, 33), y: pub.subarray(33, 65) } as Record<string, Uint8Array>;
        const template = m[1]!.replace(/<([xy]):32>/g, (_, c: string) => hex(parts[c]!)).replace(/ /g, '');
        const coseKey = fromHex(template);
        const prot = raw(((raw(fromHex(v.cbor)) as Tag).value as Uint8Array[])[0]!) as Map<number, unknown>;
        expect(hex(sha256(coseKey)), v.name).toBe(hex(prot.get(4) as Uint8Array));
        expect(hex(sha256(coseKey))).toBe(hex(keyThumbprint(publicKey(alg, pub))));
        // `{1: 1 (OKP), -1: 6 (Ed25519), -2: x}`: the numbers as they are, x and y the key's coordinates
        const want = layout(m[2]!).map(([k, d]) => [k, /^-?\d+/.test(d) ? Number(/^-?\d+/.exec(d)![0]) : hex(parts[d]!)]);
        const got = [...(raw(coseKey) as Map<number, unknown>)].map(([k, x]) => [k, x instanceof Uint8Array ? hex(x) : x]);
        expect(got, label).toEqual(want);
      }
    }
  });

  test('device id = 01 || kid[0..16], 17 bytes: the ueid of every reading', () => {
    const m = stated(/\*\*Device id\*\* = `01 \|\| kid\[0\.\.(\d+)\]` \((\d+) bytes/);
    expect(Number(m[2])).toBe(DEVICE_ID_LENGTH);
    for (const v of validReadings) {
      const [prot, , payload] = (raw(fromHex(v.cbor)) as Tag).value as Uint8Array[];
      const kid = (raw(prot!) as Map<number, unknown>).get(4) as Uint8Array;
      expect(hex((raw(payload!) as Map<number, unknown>).get(256) as Uint8Array), v.name).toBe(`01${hex(kid.subarray(0, Number(m[1])))}`);
    }
  });

  test('protected header {1: alg, 3: 65001, 4: kid}, unprotected a0, claims keys in the stated order, body layouts', () => {
    const prot = stated(/Protected header exactly `\{1: alg, 3: (\d+), 4: kid\}`/);
    expect(Number(prot[1])).toBe(CT_READING);
    const claimsText = stated(/Claims map \(keys in this order\): (.*?) then exactly one body: `(-?\d+)` sensor or `(-?\d+)` biometric/);
    const order = [...claimsText[1]!.matchAll(/`(-?\d+)`/g)].map((x) => Number(x[1]));
    const [sensorKey, bioKey] = [Number(claimsText[2]), Number(claimsText[3])];
    const sensor = layoutAfter('- Sensor body');
    expect(sensor.map(([k, d]) => [k, word(d)])).toEqual([[SENSOR_TYPE, 'type'], [SENSOR_VALUE, 'value'], [SENSOR_SCALE, 'scale'], [SENSOR_UNIT, 'unit']]);
    const bio = layoutAfter('- Biometric body');
    expect(bio.map(([k, d]) => [k, word(d)])).toEqual([[BIO_PURPOSE, 'purpose'], [BIO_RESULT, 'match'], [BIO_SCORE, 'score'], [BIO_SUBJECT_COMMITMENT, 'subjectCommitment']]);
    const results = [...bio[1]![1].matchAll(/"([a-z-]+)"/g)].map((x) => x[1]);
    const maxScore = Number(/score 0\.\.(\d+)/.exec(bio[2]![1])![1]);
    const bodies = { sensor: 0, biometric: 0 };
    for (const v of validReadings) {
      const t = raw(fromHex(v.cbor)) as Tag;
      const [p, u, payload] = t.value as [Uint8Array, Map<unknown, unknown>, Uint8Array];
      expect(t.tag).toBe(18);
      expect(hex(p)).toBe(hex(encode(new Map<number, unknown>([[1, algOf(v)], [3, CT_READING], [4, keyThumbprint(publicKey(algOf(v), fromHex(v.publicKey)))]]))));
      expect(u.size).toBe(0);
      const claims = raw(payload) as Map<number, unknown>;
      const keys = [...claims.keys()] as number[];
      expect(keys.slice(0, -1), v.name).toEqual(order);
      const body = claims.get(keys.at(-1)!) as Map<number, unknown>;
      if (keys.at(-1) === sensorKey) {
        expect([...body.keys()]).toEqual(sensor.map(([k]) => k));
        bodies.sensor++;
      } else {
        expect(keys.at(-1)).toBe(bioKey);
        bodies.biometric++;
        expect([...body.keys()]).toEqual(bio.map(([k]) => k));
        expect(results).toContain(body.get(BIO_RESULT));
        expect(body.get(BIO_SCORE)).toBeLessThanOrEqual(maxScore);
        expect((body.get(BIO_SUBJECT_COMMITMENT) as Uint8Array).length).toBe(32);
      }
    }
    expect(bodies.sensor > 0 && bodies.biometric > 0, `both bodies among the valid vectors: ${JSON.stringify(bodies)}`).toBe(true);
  });

  test('Sig_structure `84 6a "Signature1" <protected bstr> 40 <payload bstr>`: what every reading is signed over', () => {
    const m = stated(/`84 6a "Signature1" <protected bstr> 40 <payload bstr>`/);
    expect(m).toBeDefined();
    const bstr = (b: Uint8Array) => encode(b); // a byte string as CBOR: its head, then its bytes
    for (const v of validReadings) {
      const [p, , payload, sig] = (raw(fromHex(v.cbor)) as Tag).value as Uint8Array[];
      const tbs = fromHex(`846a${hex(utf8ToBytes('Signature1'))}${hex(bstr(p!))}40${hex(bstr(payload!))}`);
      expect(hex(tbs)).toBe(hex(sigStructure(p!, new Uint8Array(0), payload!)));
      expect(nobleVerify(algOf(v), fromHex(v.publicKey), tbs, sig!), v.name).toBe(true);
    }
  });
});

// ---------------------------------------------------------------- §2 proof of possession, §4 connect token

describe('SPEC §2 and §4 signed payloads, on their vectors', () => {
  test('proof of possession: content type, {256: device id, 3: agency id (text), 10: nonce, 6: iat}', () => {
    const ct = stated(/proof of possession\*\*: COSE_Sign1, content type (\d+), payload/);
    expect(Number(ct[1])).toBe(CT_PROOF_OF_POSSESSION);
    const fields = layoutAfter('proof of possession**: COSE_Sign1');
    expect(fields.map(([k, d]) => [k, d])).toEqual([[256, 'device id'], [3, 'agency id (text)'], [10, 'nonce'], [6, 'iat']]);
    for (const v of vectors('proof-of-possession.json')) {
      const [p, , payload] = (raw(fromHex(v.cbor)) as Tag).value as Uint8Array[];
      expect((raw(p!) as Map<number, unknown>).get(3)).toBe(CT_PROOF_OF_POSSESSION);
      const m = raw(payload!) as Map<number, unknown>;
      expect(new Set(m.keys())).toEqual(new Set(fields.map(([k]) => k)));
      const kid = keyThumbprint(publicKey(algOf(v), fromHex(v.publicKey)));
      expect(hex(m.get(256) as Uint8Array)).toBe(`01${hex(kid.subarray(0, 16))}`);
      expect(m.get(3)).toBe(v.params!.agencyId);
      if (v.name !== 'pop-wrong-nonce') expect(hex(m.get(10) as Uint8Array)).toBe(v.params!.nonce);
      expect(typeof m.get(6)).toBe('number');
    }
  });

  test('proof of possession: a nonce of 8..64 bytes, accepted within ±300 s of the agency clock', async () => {
    const [, lo, hi] = stated(/returns a \*\*nonce\*\* \((\d+)\.\.(\d+) bytes\)/);
    const skew = num(stated(/accepts it within ±(\d+) s of its clock/)[1]!);
    const signer = nobleSigner(ALG_EDDSA, sha256(utf8ToBytes('spec examples pop')));
    const key = publicKey(ALG_EDDSA, signer.publicKey);
    const code = async (n: number, offset = 0) => {
      try {
        const nonce = new Uint8Array(n).fill(9);
        const pop = await createProofOfPossession(signer, { agencyId: 'psb.example', nonce, iat: 1_767_225_600 });
        verifyProofOfPossession(pop, key, { agencyId: 'psb.example', nonce, now: 1_767_225_600 + offset });
        return 'VALID';
      } catch (err) {
        return (err as OriginProofError).code;
      }
    };
    expect([await code(Number(lo)), await code(Number(hi)), await code(Number(lo) - 1), await code(Number(hi) + 1)]).toEqual(['VALID', 'VALID', 'CLAIM_INVALID', 'CLAIM_INVALID']);
    expect([await code(8, skew), await code(8, -skew), await code(8, skew + 1), await code(8, -skew - 1)]).toEqual(['VALID', 'VALID', 'CLOCK_SKEW', 'CLOCK_SKEW']);
  });

  test('connect token: content type, {2: D (text), 3: gateway id (text), 4: exp, 6: iat}, exp - iat 1..600 s, at most 512 bytes', () => {
    const ct = stated(/Connect token: COSE_Sign1, content type (\d+), signed by the device key/);
    expect(Number(ct[1])).toBe(CT_CONNECT_TOKEN);
    const fields = layoutAfter('Connect token: COSE_Sign1');
    expect(fields).toEqual([[2, 'D (text)'], [3, 'gateway id (text)'], [4, 'exp'], [6, 'iat']]);
    expect(num(stated(/`exp - iat` between 1 and (\d+) s/)[1]!)).toBe(MAX_TOKEN_LIFETIME_SECONDS);
    expect(num(stated(/`TOO_LARGE` over (\d+) bytes/)[1]!)).toBe(MAX_CONNECT_TOKEN_BYTES);
    for (const v of vectors('connect-tokens.json')) {
      const [p, , payload] = (raw(fromHex(v.cbor)) as Tag).value as Uint8Array[];
      expect((raw(p!) as Map<number, unknown>).get(3)).toBe(CT_CONNECT_TOKEN);
      const m = raw(payload!) as Map<number, unknown>;
      expect([...m.keys()]).toEqual(fields.map(([k]) => k));
      expect(typeof m.get(2)).toBe('string');
      expect(typeof m.get(3)).toBe('string');
      if (v.valid) {
        expect(m.get(2)).toBe(v.params!.clientId);
        expect(m.get(3)).toBe(v.params!.audience);
        expect((m.get(4) as number) - (m.get(6) as number)).toBeLessThanOrEqual(MAX_TOKEN_LIFETIME_SECONDS);
      }
      expect(fromHex(v.cbor).length).toBeLessThanOrEqual(MAX_CONNECT_TOKEN_BYTES);
    }
  });
});

// ---------------------------------------------------------------- §7 receipts, §8 rejections

describe('SPEC §7 and §8 answers, on the receipt vectors', () => {
  const receipts = vectors('receipts.json');

  test('receipt {1: seq, 2: index, 3: receivedAtMs, 4: certRef, 5: leafHash, 6: checkpoint} is what the gateway encodes', () => {
    const fields = layoutAfter('Receipt (CBOR map on');
    expect(fields.map(([, d]) => d)).toEqual(['seq', 'index', 'receivedAtMs', 'certRef', 'leafHash', 'checkpoint']);
    for (const v of receipts) {
      const m = raw(fromHex(v.cbor)) as Map<number, unknown>;
      const r = decodeReceipt(fromHex(v.cbor)) as unknown as Record<string, unknown>;
      expect([...m.keys()]).toEqual(fields.map(([k]) => k));
      for (const [k, name] of fields) {
        const x = m.get(k);
        expect(x instanceof Uint8Array ? hex(x) : typeof x === 'bigint' ? Number(x) : x, `${v.name} ${name}`).toEqual(r[name] instanceof Uint8Array ? hex(r[name]) : r[name]);
      }
    }
  });

  test('the log entry rebuilt as SPEC spells it, receivedAtMs as 1b <8 bytes>, hashes to the leaf hash', () => {
    const fields = layoutAfter('rebuild the log entry');
    expect(stated(/check `SHA-256\(0x00 \|\| entry\) == leafHash`/)).toBeDefined();
    expect(stated(/the 8-byte form `1b <8 bytes>`/)).toBeDefined();
    for (const v of receipts) {
      const r = decodeReceipt(fromHex(v.cbor)) as unknown as Record<string, unknown>;
      const reading = fromHex(String(v.params!.reading));
      const entry = encode(new Map<number, unknown>(fields.map(([k, d]) => [k, /^\d+$/.test(d) ? Number(d) : d === '<your reading bytes>' ? reading : r[d]])));
      expect(entry.slice(0, 3)).toEqual(new Uint8Array([0xa5, 0x01, ENTRY_READING])); // {1: 1 (a reading entry), ...
      expect(hex(entry)).toContain(`031b${(r.receivedAtMs as number).toString(16).padStart(16, '0')}`);
      const same = encodeLogEntry({ type: ENTRY_READING, index: r.index as number, receivedAtMs: r.receivedAtMs as number, payload: reading, certRef: r.certRef as Uint8Array });
      expect(hex(entry)).toBe(hex(same));
      if (v.name !== 'receipt-other-reading') expect(hex(entry), v.name).toBe(v.params!.entry);
      const matches = hex(sha256(new Uint8Array([0, ...entry]))) === hex(r.leafHash as Uint8Array);
      expect(matches, v.name).toBe(v.expectedError !== 'INCLUSION_INVALID');
    }
  });

  test('the verifier key <name>+<key id, 8 hex>+<base64 of 0x01 || key>, and signature lines — <name> <base64 of key id || signature>', () => {
    stated(/`<name>\+<key id, 8 hex>\+<base64 of 0x01 \|\| Ed25519 public key>`/);
    stated(/`— <name> <base64 of key id \(4 bytes\) \|\| Ed25519 signature \(64 bytes\)>`/);
    stated(/the key id is the first 4 bytes of SHA-256\(name \|\| 0x0a \|\| 0x01 \|\| public key\), the 8 hex of the verifier key, whose base64 may itself hold `\+` \(split it at the first two\)/);
    stated(/verify the line whose name and key\s+id are the gateway key's, and skip the others/);
    for (const v of receipts) {
      const vkey = String(v.params!.checkpointKey);
      const i = vkey.indexOf('+');
      const j = vkey.indexOf('+', i + 1);
      const [name, idHex, b64] = [vkey.slice(0, i), vkey.slice(i + 1, j), vkey.slice(j + 1)];
      const pub = fromHex(v.publicKey);
      expect(hex(fromBase64(b64))).toBe(`01${v.publicKey}`);
      const keyId = sha256(new Uint8Array([...utf8ToBytes(name), 0x0a, 0x01, ...pub])).subarray(0, 4);
      expect(idHex).toBe(hex(keyId));
      // the note: text up to the blank line (origin, tree size, ...), then the signature line
      const note = decodeReceipt(fromHex(v.cbor)).checkpoint;
      const cut = note.indexOf('\n\n');
      const text = note.slice(0, cut + 1);
      expect(text.split('\n')[0]).toBe(name);
      expect(text.split('\n')[1]).toMatch(/^(0|[1-9]\d*)$/);
      // the signature lines: one by the gateway's key name; the cosigned vector has another key's line first (skipped)
      const lines = note.slice(cut + 2).split('\n').filter((l) => l !== '').map((l) => /^\u2014 (\S+) (\S+)$/.exec(l));
      expect(lines.every((l) => l !== null), v.name).toBe(true);
      // and the announcing vector (a new checkpoint key) the next key's line after the gateway's (the same name)
      const cosigned = v.name === 'receipt-checkpoint-cosigned';
      expect(lines.length, v.name).toBe(cosigned || v.name === 'receipt-next-key-announced' ? 2 : 1);
      if (cosigned) expect(lines[0]![1]).not.toBe(name);
      const sig = lines.find((l) => l![1] === name)!;
      const rawSig = fromBase64(sig[2]!);
      expect(rawSig.length).toBe(68);
      const ours = hex(rawSig.subarray(0, 4)) === idHex;
      // signed by another key than params.checkpointKey: the other key's vector, and the next key's alone
      const byOther = ['receipt-checkpoint-other-key', 'receipt-next-key-switched', 'receipt-next-key-not-held'].includes(v.name);
      expect(ours && nobleVerify(ALG_EDDSA, pub, utf8ToBytes(text), rawSig.subarray(4)), v.name).toBe(!byOther);
    }
  });

  test('rejection {1: seq or null, 2: code, 3: message, 4: path}, message 1..1024 and path 0..256 characters', () => {
    const fields = layoutAfter('Rejection (CBOR map on');
    expect(fields.map(([, d]) => word(d))).toEqual(['seq', 'code', 'message', 'path']);
    const [, msg, path] = stated(/The message is 1\.\.(\d+) characters and the path 0\.\.(\d+)/);
    expect([num(msg!), num(path!)]).toEqual([MAX_REJECTION_MESSAGE, MAX_REJECTION_PATH]);
    const r = { seq: 42, code: 'REPLAY', message: 'm', path: 'claims.seq' } as const;
    const m = raw(encodeRejection(r)) as Map<number, unknown>;
    expect([...m.keys()]).toEqual(fields.map(([k]) => k));
    for (const [k, d] of fields) expect(m.get(k)).toBe((r as Record<string, unknown>)[word(d)]);
    expect((raw(encodeRejection({ ...r, seq: null })) as Map<number, unknown>).get(1)).toBe(null);
  });
});

// ---------------------------------------------------------------- §4 CONNACK table, figures

describe('SPEC §4 CONNACK table and the figures SPEC states', () => {
  test('each error code in a CONNACK row is refused with that CONNACK', () => {
    const table = spec.slice(spec.indexOf('| CONNACK | when |'), spec.indexOf('\n\n', spec.indexOf('| CONNACK | when |')));
    const rows = table.split('\n').slice(2);
    const seen = new Set<string>();
    for (const row of rows) {
      const [, code, when] = row.split('|').map((c) => c.trim());
      const connack = Number(/^(\d)/.exec(code!)![1]);
      for (const [, name] of when!.matchAll(/`([A-Z_]+)`/g)) {
        if (name === 'RATE_LIMITED') continue; // not an error code: the broker's own refusal (CONNACK 3), mqtt-connect-failure-limit.test.ts
        expect(ERROR_CODES, name).toContain(name);
        expect(connackCodeFor(new OriginProofError(name as never, 'x')), `${name} in CONNACK ${connack}'s row`).toBe(connack);
        seen.add(name!);
      }
    }
    expect(seen.size).toBeGreaterThan(10);
    const refusals = stated(/those before the token is looked at as ((?:`[A-Z_]+`(?:, )?)+)/)[1]!;
    expect([...refusals.matchAll(/`([A-Z_]+)`/g)].map((x) => x[1])).toEqual([...FIRMWARE_REFUSALS]);
  });

  test('limits and defaults', () => {
    const props = GatewayConfigSchema.properties as Record<string, { minimum?: number }>;
    const figures: [RegExp, number][] = [
      [/Every integer .*? is at most 2\^53 - 1 = (\d+) in magnitude/, Number.MAX_SAFE_INTEGER],
      [/Size limit: (\d+) bytes for the whole COSE_Sign1/, DEFAULT_CONFIG.maxReadingBytes],
      [/Size limit: (\d+) bytes for the whole COSE_Sign1/, MAX_READING_BYTES],
      [/gateway setting `maxReadingBytes`, at least (\d+)\)/, props.maxReadingBytes!.minimum!],
      [/setting `gatewayId`, default `([a-z0-9]+)`/, DEFAULT_CONFIG.gatewayId as never],
      [/Keep alive: set one of at most ([\d,]+) s \(gateway setting `mqttMaxKeepaliveS`\)/, DEFAULT_CONFIG.mqttMaxKeepaliveS],
      [/up to ~(\d+) ms after the reading was taken \(gateway setting `mqttAckHoldMs`\)/, DEFAULT_CONFIG.mqttAckHoldMs],
      [/\(skew: gateway setting, default (\d+) s\)/, DEFAULT_CONFIG.clockSkewSeconds],
      [/at most \*\*(\d+) s ahead\*\* of the gateway clock/, DEFAULT_CONFIG.clockSkewSeconds],
      [/at most \*\*(\d+) days old\*\* when it arrives/, DEFAULT_CONFIG.maxReadingAgeSeconds / 86_400],
      [/An answer's payload is at most ([\d,]+) bytes/, MAX_RECEIPT_BYTES],
      // §8's table repeats them
      [/\| `TOO_LARGE` \| over the size limit \(([\d,]+) bytes by default; gateway setting `maxReadingBytes`\)/, DEFAULT_CONFIG.maxReadingBytes],
      [/\| `CLOCK_SKEW` \| iat more than (\d+) s ahead of the gateway/, DEFAULT_CONFIG.clockSkewSeconds],
      [/\| `CLOCK_SKEW` \| iat more than \d+ s ahead of the gateway, or older than (\d+) days/, DEFAULT_CONFIG.maxReadingAgeSeconds / 86_400],
    ];
    for (const [re, want] of figures) {
      const got = stated(re)[1]!;
      expect(typeof want === 'number' ? num(got) : got, String(re)).toBe(want);
    }
  });

  test('COSE algs, the proof-of-possession claim, the topics and their QoS', () => {
    expect.soft(num(stated(/\*\*Ed25519\*\* \(COSE alg (-\d+), RFC 8032\)/)[1]!)).toBe(ALG_EDDSA);
    expect.soft(num(stated(/\*\*ECDSA P-256 with SHA-256\*\* \(ES256, alg (-\d+)\)/)[1]!)).toBe(ALG_ES256);
    expect.soft(num(stated(/\(claim (-\d+), the COSE_Sign1 bytes;/)[1]!)).toBe(CLAIM_PROOF_OF_POSSESSION);
    const d = `01${'0'.repeat(32)}`; // SPEC writes a device id as D
    const spelled = (topic: string) => topic.replace(d, 'D');
    const [, readings, qos] = stated(/publish readings on `([^`]+)` at QoS (\d)/);
    expect.soft(readings).toBe(spelled(readingsTopic(d)));
    expect.soft(num(qos!)).toBe(TOPIC_QOS);
    const [, receipts, rejections] = stated(/subscribe to `([^`]+)` and `([^`]+)` \(subscribe before publishing/);
    expect.soft([receipts, rejections]).toEqual([spelled(receiptsTopic(d)), spelled(rejectionsTopic(d))]);
    expect.soft(num(stated(/The gateway sends receipts and rejections at \*\*QoS (\d)\*\*/)[1]!)).toBe(RECEIPT_QOS);
  });

  test("CONNACK 5's long backoff is device-sim's (device-sim/backoff.ts)", () => {
    const [, from, to, first, last] = stated(/a step from (\d+) min, doubling up to (\d+) min, each delay a random point between half the step and the step, as device-sim does: the first (\d+)–(\d+) s/);
    expect(num(from!) * 60_000).toBe(NOT_AUTHORIZED_BACKOFF.minMs);
    expect(num(to!) * 60_000).toBe(NOT_AUTHORIZED_BACKOFF.maxMs);
    const delays = (r: number) => {
      const b = new Backoff(NOT_AUTHORIZED_BACKOFF.minMs, NOT_AUTHORIZED_BACKOFF.maxMs, () => r);
      return Array.from({ length: 6 }, () => b.next());
    };
    expect(delays(0)[0]).toBe(num(first!) * 1000);
    expect(delays(1 - 1e-9)[0]).toBeLessThan(num(last!) * 1000);
    expect(delays(1 - 1e-9)[0]).toBeGreaterThanOrEqual(num(last!) * 1000 - 1);
    expect(Math.max(...delays(0))).toBe(NOT_AUTHORIZED_BACKOFF.maxMs / 2); // the step stops doubling at the cap
  });

  test("the MQTT frame cap: a packet over 4 times the reading limit plus 1 KiB is not read (gateway/mqtt/frame-cap.ts)", () => {
    const [, times, kib] = stated(/An MQTT packet whose remaining length \(the packet after its 2–5 byte fixed header\) is over (\d+) times that limit plus (\d+) KiB is not read at all/);
    for (const limit of [256, DEFAULT_CONFIG.maxReadingBytes, 4096]) expect(mqttFrameCap(limit), `limit ${limit}`).toBe(num(times!) * limit + num(kib!) * 1024);
  });

  test('a subject commitment takes a salt of at least 16 bytes', () => {
    const salt = num(stated(/with a salt \(≥ (\d+) bytes\) provisioned by the agency/)[1]!);
    expect(subjectCommitment(new Uint8Array(salt), 'x').length).toBe(32);
    let code = 'VALID';
    try {
      subjectCommitment(new Uint8Array(salt - 1), 'x');
    } catch (err) {
      code = (err as OriginProofError).code;
    }
    expect(code).toBe('CLAIM_INVALID');
  });
});

// ---------------------------------------------------------------- reading.cddl's rules, against the code's checks

describe('reading.cddl rules accept what the gateway accepts', () => {
  const cddl = readFileSync(new URL('reading.cddl', specDir), 'utf8');
  /** CDDL `.regexp` is an XSD regular expression: it matches the whole text. */
  const rule = (re: RegExp): RegExp => {
    const m = re.exec(cddl);
    expect(m, `reading.cddl no longer has ${re}`).not.toBeNull();
    return new RegExp(`^(?:${m![1]})$`);
  };
  const samples = [
    '', 'a', 'A', '1', 'temperature', 'pm2-5', 'a_b', 'a b', 'a'.repeat(32), 'a'.repeat(33), '1abc', 'psb.example', 'gw-1', '.gw', 'x'.repeat(63), 'x'.repeat(64),
    'Cel', '%RH', 'ug/m3', 'm3', '°C', 'x'.repeat(16), 'x'.repeat(17), `01${'0'.repeat(32)}`, `01${'A'.repeat(32)}`, `02${'0'.repeat(32)}`, `01${'f'.repeat(31)}`,
  ];
  const sensorClaims = (body: [number, unknown][]) =>
    new Map<unknown, unknown>([[256, new Uint8Array([1, ...new Uint8Array(16)])], [6, 1], [-65539, 0], [-65540, new Uint8Array(32)], [-65541, new Map(body)]]);
  const accepted = (f: () => unknown): boolean => {
    try {
      f();
      return true;
    } catch (err) {
      if (!(err instanceof OriginProofError)) throw err;
      return false;
    }
  };

  test('reading-type, purpose, entity-id, device-id-hex and unit: the same texts pass', () => {
    const type = rule(/^reading-type = tstr \.regexp "([^"]+)"$/m);
    const purpose = rule(/^ {2}1 => tstr \.regexp "([^"]+)",/m);
    const entity = rule(/^entity-id = tstr \.regexp "([^"]+)"/m);
    const idHex = rule(/^device-id-hex = tstr \.regexp "([^"]+)"$/m);
    const unit = rule(/^unit = tstr \.regexp "([^"]+)"$/m);
    for (const s of samples) {
      expect(type.test(s), `reading-type ${s}`).toBe(TOKEN_NAME.test(s));
      expect(purpose.test(s), `purpose ${s}`).toBe(TOKEN_NAME.test(s));
      expect(entity.test(s), `entity-id ${s}`).toBe(ENTITY_ID.test(s));
      expect(idHex.test(s), `device-id-hex ${s}`).toBe(isUeidHex(s));
      expect(unit.test(s), `unit ${s}`).toBe(accepted(() => readingClaimsFromMap(sensorClaims([[1, 'temperature'], [2, 1], [3, 0], [4, s]]))));
    }
  });

  test('scale -18..18 and score 0..1000', () => {
    const [, lo, hi] = /^ {2}3 => (-?\d+)\.\.(-?\d+),\s+; scale/m.exec(cddl)!;
    for (const [scale, ok] of [[Number(lo), true], [Number(hi), true], [Number(lo) - 1, false], [Number(hi) + 1, false]] as const) {
      expect(accepted(() => readingClaimsFromMap(sensorClaims([[1, 'temperature'], [2, 1], [3, scale], [4, 'Cel']]))), `scale ${scale}`).toBe(ok);
    }
    const [, max] = /^ {2}3 => 0\.\.(\d+),\s+; score/m.exec(cddl)!;
    const commitment = sha256(utf8ToBytes('a subject'));
    const body = (score: number) => new Map<unknown, unknown>([[1, 'door-access'], [2, 'match'], [3, score], [4, commitment]]);
    expect([accepted(() => parseBiometricBody(body(Number(max)), 'b')), accepted(() => parseBiometricBody(body(Number(max) + 1), 'b'))]).toEqual([true, false]);
  });
});

// ---------------------------------------------------------------- §8 device actions, against device-sim

describe("SPEC §8's device actions are what device-sim does", () => {
  const section = /^## 8\. Rejections$([\s\S]*?)^## /m.exec(spec)![1]!;
  const actions = new Map([...section.matchAll(/^\| `([A-Z_]+)` \| [^|]* \| ([^|]*) \|$/gm)].map((m) => [m[1]!, m[2]!]));
  /** The codes a device can receive on its rejections topic (the rest, SPEC says, never arrive there). */
  const notOnTopic = ['UNKNOWN_DEVICE', 'TOKEN_EXPIRED', 'INCLUSION_INVALID', 'CHECKPOINT_INVALID', 'CONSISTENCY_INVALID'];

  test('"stop sending" rows are STOP_CODES (UNKNOWN_DEVICE, a CONNACK, aside); "keep reading" rows are KEEP_CODES; every other is dropped', () => {
    expect(stated(/The table names every error code, but some never arrive on the rejections topic: `UNKNOWN_DEVICE` only as CONNACK 5 and `TOKEN_EXPIRED` only as CONNACK 4/)).toBeDefined();
    const onTopic = ERROR_CODES.filter((c) => !notOnTopic.includes(c));
    expect(onTopic.filter((c) => /stop sending/.test(actions.get(c)!))).toEqual(STOP_CODES.filter((c) => c !== 'UNKNOWN_DEVICE'));
    expect(onTopic.filter((c) => /^keep reading/.test(actions.get(c)!))).toEqual([...KEEP_CODES]);
    for (const c of onTopic.filter((x) => !KEEP_CODES.includes(x) && x !== 'TOPIC_MISMATCH')) expect(actions.get(c), c).toMatch(/\bdrop\b/);
  });
});
