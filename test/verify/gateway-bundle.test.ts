/**
 * Offline verification of bundles made by a real gateway (startGateway on port 0, LevelDB in a temp dir):
 * valid with a trust file holding only the root key and the gateway checkpoint key; every single-byte change
 * caught with a sensible code per region; a revoked device's later reading fails with CERT_REVOKED.
 */
import * as nodeCrypto from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectDevice, nowS, Pki, reading, register, revoke, startTestGateway, type Device, type TestGateway } from '../gateway/harness.js';
import { makeNodeVerify } from '../../gateway/crypto/node-verify-factory.js';
import { decodeProofBundle, decodeProofBundleAny, encodeProofBundle, proofBundleFromJson, proofBundleToJson, type ProofBundle } from '../../protocol/bundle.js';
import { toHex, utf8ToBytes } from '../../protocol/bytes.js';
import { decodeSign1 } from '../../protocol/cose-sign1.js';
import { decodeLogEntry } from '../../protocol/log-entry.js';
import { OriginProofError, isErrorCode } from '../../protocol/errors.js';
import { parseTrustText, type TrustMaterial } from '../../protocol/trust.js';
import { verifyBundle, verifyBundleBytes, type Verdict } from '../../protocol/verify-bundle.js';
import { fetchBundle } from '../../cli/commands/fetch-bundle.js';
import { runVerify } from '../../cli/commands/verify.js';

const verifier = makeNodeVerify(nodeCrypto);

function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

async function receipt(gw: TestGateway['gw'], d: Device, seq: number, iat?: number): Promise<number> {
  const c = await connectDevice(gw, d);
  try {
    await c.publish(await reading(d, seq, iat === undefined ? {} : { iat }));
    const a = await c.next();
    if (a.kind !== 'receipt') throw new Error(`rejected: ${JSON.stringify(a.rejection)}`);
    return a.receipt.index;
  } finally {
    await c.end();
  }
}

const failed = (v: Verdict) => v.checks.filter((c) => c.status === 'fail');
const check = (v: Verdict, name: string) => v.checks.find((c) => c.name === name)!;

describe('verify: bundles from a real gateway', () => {
  let t: TestGateway;
  let dir: string;
  let trustPath: string;
  let trust: TrustMaterial;
  let devA: Device;
  let devB: Device;
  let idxA: number;
  let idxB1: number;
  let idxB2: number;
  let revokeB: () => ReturnType<typeof revoke>;

  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki);
    dir = await mkdtemp(join(tmpdir(), 'op-verify-'));
    const agency = await pki.agency('psb.example');
    devA = await pki.device(agency);
    devB = await pki.device(agency);
    await register(t.gw, agency, [devA, devB]); // entries 0, 1, 2: tree sizes 1, 2, 3 (one block each)
    idxA = await receipt(t.gw, devA, 1);
    // Device A has a scheduled decommissioning (revokedFrom tomorrow): its bundle carries a revocation and stays valid.
    const ra = await revoke(t.gw, agency, devA.cert, nowS() + 86_400, 'decommissioned');
    expect(ra.status).toBe(201);
    const t0 = nowS();
    idxB1 = await receipt(t.gw, devB, 1, t0 - 100);
    idxB2 = await receipt(t.gw, devB, 2, t0);
    // The trust file holds only the root key and the gateway's checkpoint key.
    trustPath = join(dir, 'trust.json');
    const trustText = JSON.stringify({
      roots: [{ name: 'root.example', alg: 'EdDSA', publicKey: toHex(pki.root.signer.publicKey) }],
      checkpointKeys: [{ key: t.gw.checkpointVerifierKey }],
    });
    await writeFile(trustPath, trustText);
    trust = parseTrustText(trustText);
    revokeB = () => revoke(t.gw, agency, devB.cert, t0 - 50, 'keyCompromise');
  });
  afterAll(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('a gateway bundle (CBOR and JSON view) verifies offline: library (noble and node:crypto) and CLI function', async () => {
    const cbor = await fetchBundle({ gateway: t.gw.httpUrl, entry: idxA, out: join(dir, 'a.cbor') });
    const json = await fetchBundle({ gateway: t.gw.httpUrl, entry: idxA, format: 'json', out: join(dir, 'a.json') });
    const pure = verifyBundleBytes(cbor, trust); // @noble/curves, as a browser would
    expect(failed(pure)).toEqual([]);
    expect(pure.valid).toBe(true);
    expect(pure.checks.map((c) => [c.name, c.status])).toEqual([
      ['signature', 'pass'], ['chain', 'pass'], ['revocation', 'pass'], ['claims', 'pass'], ['inclusion', 'pass'], ['checkpoint', 'pass'], ['consistency', 'skip'],
    ]);
    expect(pure.record).toMatchObject({ index: idxA, entryType: 1, deviceId: devA.id, seq: 1, agency: 'psb.example' });
    expect(check(pure, 'revocation').message).toMatch(/1 revocation/);
    const fromJson = decodeProofBundleAny(json);
    expect(toHex(encodeProofBundle(fromJson))).toBe(toHex(cbor));
    for (const f of ['a.cbor', 'a.json']) {
      const r = runVerify({ bundle: join(dir, f), trust: trustPath });
      expect(r.exitCode, r.output).toBe(0);
      expect(r.output).toMatch(/^VALID$/m);
      expect(r.output).toMatch(/signature\s+PASS/);
    }
    const j = runVerify({ bundle: join(dir, 'a.cbor'), trust: trustPath, json: true });
    expect(JSON.parse(j.output)).toMatchObject({ valid: true, record: { deviceId: devA.id } });
  });

  test('a bundle with ?since carries a consistency proof; --since checks it offline', async () => {
    const bytes = await fetchBundle({ gateway: t.gw.httpUrl, entry: idxA, since: 1, out: join(dir, 'a-since1.cbor') });
    const b = decodeProofBundle(bytes);
    expect(b.consistency?.fromSize).toBe(1);
    expect(proofBundleFromJson(JSON.parse(JSON.stringify(proofBundleToJson(b))))).toEqual(b);
    const cp1 = await (await fetch(`${t.gw.httpUrl}/v1/checkpoints/1`)).text();
    await writeFile(join(dir, 'cp1.txt'), cp1);
    const r = runVerify({ bundle: join(dir, 'a-since1.cbor'), trust: trustPath, since: join(dir, 'cp1.txt') });
    expect(r.exitCode, r.output).toBe(0);
    expect(check(r.verdict!, 'consistency')).toMatchObject({ status: 'pass' });
    // The bundle's proof starts at 1; a checkpoint at another size cannot use it.
    const cp2 = await (await fetch(`${t.gw.httpUrl}/v1/checkpoints/2`)).text();
    const v = verifyBundle(b, trust, { verifier, since: { checkpoint: cp2 } });
    expect(check(v, 'consistency')).toMatchObject({ status: 'fail', code: 'CONSISTENCY_INVALID' });
  });

  test('every single-byte change to a CBOR bundle is caught, with a sensible code per region', async () => {
    const bytes = await fetchBundle({ gateway: t.gw.httpUrl, entry: idxA, since: 1 });
    const b = decodeProofBundle(bytes);
    const cp1 = await (await fetch(`${t.gw.httpUrl}/v1/checkpoints/1`)).text();
    const opts = { verifier, since: { checkpoint: cp1 } };
    expect(verifyBundle(b, trust, opts).valid).toBe(true);
    expect(b.revocations).toHaveLength(1);
    expect(b.certificates).toHaveLength(2);
    expect(b.consistency!.proof.length).toBeGreaterThan(0);

    // Regions: where each field's content sits in the encoded bundle.
    type Region = { name: string; start: number; end: number; allowed: RegExp; check?: string };
    const regions: Region[] = [];
    const add = (name: string, content: Uint8Array, allowed: RegExp, checkName?: string, from = 0) => {
      const start = indexOf(bytes, content, from);
      expect(start, name).toBeGreaterThanOrEqual(0);
      regions.push({ name, start, end: start + content.length, allowed, ...(checkName ? { check: checkName } : {}) });
      return start;
    };
    const entryStart = add('entry', b.entry, /^(INCLUSION_INVALID|MALFORMED)$/, 'inclusion');
    const sig = decodeSign1(decodeLogEntry(b.entry).payload).signature;
    add('reading signature', sig, /^BAD_SIGNATURE$/, 'signature', entryStart);
    b.inclusionProof.forEach((h, i) => add(`inclusionProof[${i}]`, h, /^INCLUSION_INVALID$/, 'inclusion'));
    add('checkpoint text', utf8ToBytes(b.checkpoint), /^(CHECKPOINT_INVALID|MALFORMED)$/, 'checkpoint');
    add('blockHeader', b.blockHeader, /^(CHECKPOINT_INVALID|MALFORMED)$/, 'checkpoint');
    b.certificates.forEach((c, i) => add(`certificates[${i}]`, c, /^(CHAIN_INVALID|UNKNOWN_KEY|BAD_SIGNATURE|MALFORMED|CLAIM_INVALID|ALG_NOT_ALLOWED|ROLE_VIOLATION)$/, 'chain'));
    add('revocations[0]', b.revocations[0]!, /^(BAD_SIGNATURE|MALFORMED|CLAIM_INVALID|ROLE_VIOLATION|UNKNOWN_KEY|ALG_NOT_ALLOWED)$/, 'revocation');
    b.consistency!.proof.forEach((h, i) => add(`consistency.proof[${i}]`, h, /^CONSISTENCY_INVALID$/, 'consistency'));

    const codesByRegion = new Map<string, Set<string>>();
    const uncaught: number[] = [];
    const flipped = new Uint8Array(bytes);
    for (let pos = 0; pos < bytes.length; pos++) {
      flipped[pos] = bytes[pos]! ^ 0x01;
      let codes: string[];
      let verdict: Verdict | undefined;
      try {
        verdict = verifyBundle(decodeProofBundle(flipped), trust, opts);
        codes = failed(verdict).map((c) => c.code!);
        if (verdict.valid) uncaught.push(pos);
      } catch (err) {
        expect(err).toBeInstanceOf(OriginProofError);
        codes = [(err as OriginProofError).code]; // the bundle does not decode: the CLI exits 2
      }
      flipped[pos] = bytes[pos]!;
      expect(codes.length, `flip at ${pos} gives no code`).toBeGreaterThan(0);
      for (const c of codes) expect(isErrorCode(c)).toBe(true);
      // The innermost region that holds pos decides which check must fail and with which codes.
      const inner = regions.filter((r) => pos >= r.start && pos < r.end).sort((x, y) => x.end - x.start - (y.end - y.start))[0];
      if (!inner) continue;
      const set = codesByRegion.get(inner.name) ?? new Set<string>();
      codesByRegion.set(inner.name, set);
      if (!verdict) {
        expect(codes, `flip at ${pos} in ${inner.name}`).toEqual(['MALFORMED']);
        set.add('MALFORMED(decode)');
        continue;
      }
      const c = check(verdict, inner.check!);
      expect(c.status, `flip at ${pos} in ${inner.name}: ${JSON.stringify(verdict.checks)}`).toBe('fail');
      expect(c.code, `flip at ${pos} in ${inner.name}`).toMatch(inner.allowed);
      set.add(c.code!);
    }
    expect(uncaught).toEqual([]);
    if (process.env.SHOW_CODES) console.log(bytes.length, [...codesByRegion].map(([k, v]) => `${k}: ${[...v].join(",")}`).join("\n"));
    // Every region was exercised and got its characteristic code.
    expect([...codesByRegion.get('reading signature')!]).toEqual(['BAD_SIGNATURE']);
    expect(codesByRegion.get('checkpoint text')).toContain('CHECKPOINT_INVALID');
    expect(codesByRegion.get('inclusionProof[0]')).toEqual(new Set(['INCLUSION_INVALID']));
    expect(codesByRegion.get('consistency.proof[0]')).toEqual(new Set(['CONSISTENCY_INVALID']));
    expect(codesByRegion.get('entry')).toContain('INCLUSION_INVALID');
    expect(codesByRegion.get('blockHeader')).toContain('CHECKPOINT_INVALID');
    expect(codesByRegion.get('certificates[0]')!.size).toBeGreaterThan(0);
    expect(codesByRegion.get('revocations[0]')).toContain('BAD_SIGNATURE');
  }, 120_000);

  test("a revoked device's later reading fails with CERT_REVOKED; its earlier one stays valid", async () => {
    // Before the revocation reaches the gateway: valid, but not with the revocation the verifier holds.
    const before = await fetchBundle({ gateway: t.gw.httpUrl, entry: idxB2, out: join(dir, 'b2-before.cbor') });
    expect(verifyBundleBytes(before, trust, { verifier }).valid).toBe(true);
    const res = await revokeB();
    expect(res.status).toBe(201);
    const revIndex = res.body.index as number;
    const revEntry = decodeProofBundle(await fetchBundle({ gateway: t.gw.httpUrl, entry: revIndex }));
    const revBytes = decodeLogEntry(revEntry.entry).payload;
    await writeFile(join(dir, 'b.rev'), revBytes);
    const held = runVerify({ bundle: join(dir, 'b2-before.cbor'), trust: trustPath, revocations: [join(dir, 'b.rev')] });
    expect(held.exitCode).toBe(1);
    expect(check(held.verdict!, 'revocation')).toMatchObject({ status: 'fail', code: 'CERT_REVOKED' });
    expect(held.output).toMatch(/INVALID: revocation CERT_REVOKED/);

    // After: the gateway's bundle itself carries the revocation.
    const later = await fetchBundle({ gateway: t.gw.httpUrl, entry: idxB2, out: join(dir, 'b2.cbor') });
    const v = verifyBundleBytes(later, trust, { verifier });
    expect(v.valid).toBe(false);
    expect(failed(v).map((c) => [c.name, c.code])).toEqual([['revocation', 'CERT_REVOKED']]);
    const cli = runVerify({ bundle: join(dir, 'b2.cbor'), trust: trustPath, json: true });
    expect(cli.exitCode).toBe(1);
    expect(JSON.parse(cli.output).checks.find((c: { name: string }) => c.name === 'revocation')).toMatchObject({ status: 'fail', code: 'CERT_REVOKED' });
    const earlier = verifyBundleBytes(await fetchBundle({ gateway: t.gw.httpUrl, entry: idxB1 }), trust, { verifier });
    expect(failed(earlier)).toEqual([]);
    expect(earlier.valid).toBe(true);
  });

  test('exit 2 on unusable input: missing file, bundle that does not decode, bad trust file, bad --since', async () => {
    await writeFile(join(dir, 'garbage.cbor'), new Uint8Array([0xa1, 0x01]));
    await writeFile(join(dir, 'bad-trust.json'), '{"roots": [{"name": "x"}]}');
    await writeFile(join(dir, 'no-keys.json'), '{"roots": []}');
    await writeFile(join(dir, 'not-a-note.txt'), 'hello\n');
    await fetchBundle({ gateway: t.gw.httpUrl, entry: idxA, out: join(dir, 'ok.cbor') });
    const cases: [string, Parameters<typeof runVerify>[0]][] = [
      ['missing bundle', { bundle: join(dir, 'nope.cbor'), trust: trustPath }],
      ['garbage bundle', { bundle: join(dir, 'garbage.cbor'), trust: trustPath }],
      ['missing trust', { bundle: join(dir, 'ok.cbor'), trust: join(dir, 'nope.json') }],
      ['bad trust', { bundle: join(dir, 'ok.cbor'), trust: join(dir, 'bad-trust.json') }],
      ['trust without checkpoint keys', { bundle: join(dir, 'ok.cbor'), trust: join(dir, 'no-keys.json') }],
      ['since not a note', { bundle: join(dir, 'ok.cbor'), trust: trustPath, since: join(dir, 'not-a-note.txt') }],
      ['revocation not a revocation', { bundle: join(dir, 'ok.cbor'), trust: trustPath, revocations: [join(dir, 'garbage.cbor')] }],
    ];
    for (const [name, o] of cases) {
      const r = runVerify(o);
      expect(r.exitCode, `${name}: ${r.output}`).toBe(2);
      expect(r.output).toMatch(/^UNUSABLE INPUT \[[A-Z_]+\]/);
      expect(JSON.parse(runVerify({ ...o, json: true }).output)).toMatchObject({ valid: false, error: { code: expect.any(String) } });
    }
  });

  test('bundle struct helpers keep key 9 optional', () => {
    // An old bundle (no key 9) encodes byte-for-byte as before and round-trips through the JSON view.
    const b: ProofBundle = { entry: new Uint8Array([1]), index: 0, treeSize: 1, inclusionProof: [], checkpoint: 'x\n', blockHeader: new Uint8Array([2]), certificates: [], revocations: [] };
    const enc = encodeProofBundle(b);
    expect(enc[0]).toBe(0xa8);
    expect(proofBundleToJson(b)).not.toHaveProperty('consistency');
    expect(decodeProofBundle(encodeProofBundle({ ...b, consistency: { fromSize: 1, proof: [] } })).consistency).toEqual({ fromSize: 1, proof: [] });
    expect(() => encodeProofBundle({ ...b, consistency: { fromSize: 2, proof: [] } })).toThrow(/fromSize/);
  });
});
