/**
 * `fetch-revocations` (GET /v1/revocations) and `verify --revocation-log`: the log's whole revocation list with the
 * checkpoint that commits to it. A bundle's own revocations are chosen by whoever made the bundle; one stripped of
 * them verifies, and the fetched list catches it, complete up to the checkpoint's tree size. A list that is not
 * the committed one (a statement left out, changed or added, another key's checkpoint) fails CHECKPOINT_INVALID.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  decodeProofBundle, ed25519NoteSigner, encodeProofBundle, openRevocationLog, parseCheckpoint, parseNote, parseVerifierKey, signCheckpoint, toBase64,
} from '../../protocol/index.js';
import { fetchRevocations } from '../../cli/commands/fetch-revocations.js';
import { runVerify } from '../../cli/commands/verify.js';
import {
  certify, connectDevice, nowS, Pki, postCert, reading, register, revoke, startTestGateway, type Device, type Party, type TestGateway,
} from '../gateway/harness.js';

describe('fetch-revocations and verify --revocation-log', () => {
  let t: TestGateway;
  let dir: string;
  let trust: string;
  let agency: Party;
  let d: Device;
  let stripped: string;
  let index: number;
  const revCheck = (r: ReturnType<typeof runVerify>) => r.verdict?.checks.find((x) => x.name === 'revocation');

  beforeAll(async () => {
    t = await startTestGateway(await Pki.create());
    dir = await mkdtemp(join(tmpdir(), 'op-revs-'));
    trust = join(dir, 'trust.json');
    await writeFile(trust, JSON.stringify({ roots: [{ certificate: toBase64(t.pki.root.cert.bytes) }], checkpointKeys: [{ key: t.gw.checkpointVerifierKey }] }));
    agency = await t.pki.agency('psb.example');
    d = await t.pki.device(agency);
    await register(t.gw, agency, [d]);
    const c = await connectDevice(t.gw, d);
    await c.publish(await reading(d, 1));
    const answer = await c.next();
    await c.end();
    if (answer.kind !== 'receipt') throw new Error('expected a receipt');
    index = answer.receipt.index;
    stripped = join(dir, 'stripped.cbor');
  });
  afterAll(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('an empty list is complete too: a log without revocations, a bundle that verifies', async () => {
    const out = join(dir, 'none');
    const fetched = await fetchRevocations({ gateway: t.gw.httpUrl, out });
    expect(fetched.revocations).toEqual([]);
    expect(fetched.treeSize).toBeGreaterThan(index);
    const raw = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` });
    const file = join(dir, 'before.cbor');
    await writeFile(file, new Uint8Array(raw.rawPayload));
    const r = runVerify({ bundle: file, trust, revocationLog: out });
    expect(r.exitCode).toBe(0);
    expect(revCheck(r)?.message).toMatch(new RegExp(`complete up to tree size ${fetched.treeSize}: the log's 0 revocation\\(s\\) below it`));
  });

  test('a bundle stripped of its revocation verifies; the fetched list makes it CERT_REVOKED, complete up to its checkpoint', async () => {
    // A key compromise found later, dated from before the reading; and a second device's revocation besides.
    expect((await revoke(t.gw, agency, d.cert, nowS() - 3600, 'keyCompromise')).status).toBe(201);
    const other = await t.pki.device(agency);
    await register(t.gw, agency, [other]);
    expect((await revoke(t.gw, agency, other.cert, nowS(), 'decommissioned')).status).toBe(201);

    const listed = (await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json();
    expect(listed.revocations.map((x: { sub: string; reason: string }) => [x.sub, x.reason])).toEqual([[d.id, 'keyCompromise'], [other.id, 'decommissioned']]);
    expect(parseCheckpoint(parseNote(listed.checkpoint).text).size).toBe(listed.treeSize);

    const raw = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` });
    const bundle = decodeProofBundle(new Uint8Array(raw.rawPayload));
    expect(bundle.revocations).toHaveLength(1);
    await writeFile(stripped, encodeProofBundle({ ...bundle, revocations: [] }));
    expect(runVerify({ bundle: stripped, trust }).exitCode).toBe(0); // what a bundle alone cannot show

    const out = join(dir, 'revs');
    const fetched = await fetchRevocations({ gateway: t.gw.httpUrl, out });
    expect(fetched.revocations.map((f) => [f.sub, f.reason])).toEqual([[d.id, 'keyCompromise'], [other.id, 'decommissioned']]);
    const complete = runVerify({ bundle: stripped, trust, revocationLog: out });
    expect(complete.exitCode).toBe(1);
    expect(revCheck(complete)).toMatchObject({ status: 'fail', code: 'CERT_REVOKED' });
    // each statement on its own, as before
    const loose = runVerify({ bundle: stripped, trust, revocations: fetched.revocations.map((f) => f.file) });
    expect(revCheck(loose)).toMatchObject({ status: 'fail', code: 'CERT_REVOKED' });
  });

  test('a list that is not the committed one fails CHECKPOINT_INVALID: one left out, one added, one changed', async () => {
    const listed = (await fetchRevocations({ gateway: t.gw.httpUrl, out: join(dir, 'revs') })).revocations;
    expect(listed).toHaveLength(2);
    const [kc, later] = listed.map((f) => `${f.index}.rev`) as [string, string];
    const variant = async (name: string, edit: (v: string) => Promise<void>) => {
      const v = join(dir, name);
      await rm(v, { recursive: true, force: true });
      await fetchRevocations({ gateway: t.gw.httpUrl, out: v });
      await edit(v);
      return runVerify({ bundle: stripped, trust, revocationLog: v });
    };
    // The key compromise left out: without completeness the stripped bundle would pass.
    const dropped = await variant('dropped', (v) => rm(join(v, kc)));
    expect([dropped.exitCode, revCheck(dropped)?.code]).toEqual([1, 'CHECKPOINT_INVALID']);
    const added = await variant('added', (v) => copyFile(join(v, later), join(v, '999999.rev')));
    expect([added.exitCode, revCheck(added)?.code]).toEqual([1, 'CHECKPOINT_INVALID']);
    const moved = await variant('moved', async (v) => {
      await copyFile(join(v, later), join(v, `${listed[1]!.index + 1}.rev`));
      await rm(join(v, later));
    });
    expect([moved.exitCode, revCheck(moved)?.code]).toEqual([1, 'CHECKPOINT_INVALID']);
  });

  test('a checkpoint not signed by a trusted key fails CHECKPOINT_INVALID; a directory without its checkpoint is unusable (exit 2)', async () => {
    const listed = (await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json();
    const cp = parseCheckpoint(parseNote(listed.checkpoint).text);
    // The same text signed by a key with the gateway's name that the trust file does not hold.
    const name = listed.checkpoint.split('\n').find((l: string) => l.startsWith('\u2014 ')).split(' ')[1];
    const forged = join(dir, 'forged');
    await rm(forged, { recursive: true, force: true });
    await fetchRevocations({ gateway: t.gw.httpUrl, out: forged });
    await writeFile(join(forged, 'checkpoint'), await signCheckpoint(cp, ed25519NoteSigner(name, new Uint8Array(32).fill(9))));
    const r = runVerify({ bundle: stripped, trust, revocationLog: forged });
    expect([r.exitCode, revCheck(r)?.code]).toEqual([1, 'CHECKPOINT_INVALID']);
    await rm(join(forged, 'checkpoint'));
    const unusable = runVerify({ bundle: stripped, trust, revocationLog: forged });
    expect([unusable.exitCode, unusable.error?.code]).toEqual([2, 'NOT_FOUND']);
  });

  test('a fetch into a directory holding an earlier list leaves exactly the new list', async () => {
    const out = join(dir, 'stale');
    await fetchRevocations({ gateway: t.gw.httpUrl, out });
    await writeFile(join(out, '123456.rev'), new Uint8Array([1]));
    await writeFile(join(out, 'notes.txt'), 'mine');
    const fetched = await fetchRevocations({ gateway: t.gw.httpUrl, out });
    // a device's keyCompromise has its certificate and its agency's beside it; the decommissioning nothing
    const files = fetched.revocations.flatMap((f) => [`${f.index}.rev`, ...(f.reason === 'keyCompromise' ? [`${f.index}.cert`, `${f.index}.issuer.cert`] : [])]);
    expect((await readdir(out)).sort()).toEqual(['checkpoint', 'format', 'notes.txt', ...files].sort());
    expect(existsSync(join(out, '123456.rev'))).toBe(false);
    expect(runVerify({ bundle: stripped, trust, revocationLog: out }).exitCode).toBe(1); // CERT_REVOKED, the list complete
  });

  test('a fetch into a directory holding an earlier list fetches only what was logged since; a list it cannot extend is fetched whole', async () => {
    const out = join(dir, 'incremental');
    const first = await fetchRevocations({ gateway: t.gw.httpUrl, out });
    expect(first.kept).toBe(0);
    const later = await t.pki.device(agency);
    await register(t.gw, agency, [later]);
    expect((await revoke(t.gw, agency, later.cert, nowS(), 'decommissioned')).status).toBe(201);
    const grown = await fetchRevocations({ gateway: t.gw.httpUrl, out });
    expect(grown.kept).toBe(first.revocations.length);
    expect(grown.revocations.map((f) => f.sub)).toEqual([...first.revocations.map((f) => f.sub), later.id]);
    expect(grown.treeSize).toBeGreaterThan(first.treeSize);
    const complete = runVerify({ bundle: stripped, trust, revocationLog: out });
    expect([complete.exitCode, revCheck(complete)?.code]).toEqual([1, 'CERT_REVOKED']);
    // DIR holds exactly the list the new checkpoint commits to
    const heldList = await Promise.all(grown.revocations.map(async (f) => ({ index: f.index, statement: new Uint8Array(await readFile(f.file)) })));
    const opened = openRevocationLog(heldList, await readFile(grown.checkpointFile!, 'utf8'), [parseVerifierKey(t.gw.checkpointVerifierKey)]);
    expect([opened.size, opened.revocations.length]).toEqual([grown.treeSize, grown.revocations.length]);
    // a held file changed: the held list no longer hashes to the new line, so the whole list is fetched again
    const held = first.revocations[0]!.file;
    await writeFile(held, new Uint8Array([0xa0]));
    await register(t.gw, agency, [await t.pki.device(agency)]); // a newer checkpoint
    const refetched = await fetchRevocations({ gateway: t.gw.httpUrl, out });
    expect(refetched.kept).toBe(0);
    expect(runVerify({ bundle: stripped, trust, revocationLog: out }).exitCode).toBe(1); // CERT_REVOKED, the list complete again
    expect(revCheck(runVerify({ bundle: stripped, trust, revocationLog: out }))?.code).toBe('CERT_REVOKED');
    // --full fetches everything even when the held list would do
    expect((await fetchRevocations({ gateway: t.gw.httpUrl, out, full: true })).kept).toBe(0);
    expect((await fetchRevocations({ gateway: t.gw.httpUrl, out })).kept).toBe(grown.revocations.length);
  });
  // A reading's entry pins its device certificate, not its agency's: a bundle carrying the agency's earlier certificate
  // (same key) in place of the renewed, revoked one passed with the list (protocol/agency-renewal.ts).
  test("an agency's renewed certificate revoked: the list carries it (<index>.cert), and a bundle with the earlier one fails", async () => {
    const g = await t.pki.agency('renewed.example');
    const e = await t.pki.device(g);
    await register(t.gw, g, [e]);
    const a2 = await certify(t.pki.root, g, 'agency', nowS() - 600);
    expect((await postCert(t, 'agencies', a2)).status).toBe(201);
    const c = await connectDevice(t.gw, e);
    await c.publish(await reading(e, 1));
    const answer = await c.next();
    await c.end();
    if (answer.kind !== 'receipt') throw new Error('expected a receipt');
    expect((await revoke(t.gw, t.pki.root, a2, nowS() - 120, 'cessationOfOperation')).status).toBe(201);
    const raw = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${answer.receipt.index}/bundle` });
    const bundle = decodeProofBundle(new Uint8Array(raw.rawPayload));
    const honest = join(dir, 'renewed-honest.cbor');
    const swapped = join(dir, 'renewed-swapped.cbor');
    await writeFile(honest, new Uint8Array(raw.rawPayload));
    await writeFile(swapped, encodeProofBundle({ ...bundle, certificates: [e.cert.bytes, g.cert.bytes], revocations: [] }));
    expect(runVerify({ bundle: swapped, trust }).exitCode).toBe(0); // what a bundle alone cannot show

    const out = join(dir, 'renewed-revs');
    const fetched = await fetchRevocations({ gateway: t.gw.httpUrl, out });
    const mine = fetched.revocations.find((f) => f.sub === 'renewed.example')!;
    const certFile = join(out, `${mine.index}.cert`);
    expect(new Uint8Array(await readFile(certFile))).toEqual(a2.bytes);
    expect(existsSync(join(out, `${fetched.revocations.find((f) => f.reason === 'decommissioned')!.index}.cert`))).toBe(false); // a device's decommissioning: none
    for (const file of [honest, swapped]) {
      const r = runVerify({ bundle: file, trust, revocationLog: out });
      expect([file, r.exitCode, revCheck(r)?.code]).toEqual([file, 1, 'CERT_REVOKED']);
    }
    // the statement alone cannot be placed (UNKNOWN_KEY, not passed over); with --certificates it is
    const alone = runVerify({ bundle: swapped, trust, revocations: [mine.file] });
    expect([alone.exitCode, revCheck(alone)?.code]).toEqual([1, 'UNKNOWN_KEY']);
    const placed = runVerify({ bundle: swapped, trust, revocations: [mine.file], certificates: [certFile] });
    expect([placed.exitCode, revCheck(placed)?.code]).toEqual([1, 'CERT_REVOKED']);
    // a certificate file that does not decode is unusable input
    const junk = join(dir, 'junk.cert');
    await writeFile(junk, new Uint8Array([1, 2, 3]));
    expect(runVerify({ bundle: swapped, trust, revocations: [mine.file], certificates: [junk] }).exitCode).toBe(2);
    // brought up to date, the kept entries keep their certificates; a stale one is removed
    await writeFile(join(out, '999999.cert'), a2.bytes);
    await register(t.gw, agency, [await t.pki.device(agency)]); // a newer checkpoint
    const grown = await fetchRevocations({ gateway: t.gw.httpUrl, out });
    expect(grown.kept).toBe(fetched.revocations.length);
    expect(existsSync(certFile)).toBe(true);
    expect(existsSync(join(out, '999999.cert'))).toBe(false);
    expect(revCheck(runVerify({ bundle: swapped, trust, revocationLog: out }))?.code).toBe('CERT_REVOKED');

    // a list fetched before the .cert files existed (no DIR/format): fetched whole once, so its agency revocations
    // get their certificates, where bringing it up to date left them without (UNKNOWN_KEY)
    await rm(certFile);
    await rm(join(out, 'format'));
    expect(revCheck(runVerify({ bundle: swapped, trust, revocationLog: out }))?.code).toBe('UNKNOWN_KEY');
    const refetched = await fetchRevocations({ gateway: t.gw.httpUrl, out });
    expect(refetched.kept).toBe(0);
    expect(new Uint8Array(await readFile(certFile))).toEqual(a2.bytes);
    expect(revCheck(runVerify({ bundle: swapped, trust, revocationLog: out }))?.code).toBe('CERT_REVOKED');
    expect((await fetchRevocations({ gateway: t.gw.httpUrl, out })).kept).toBe(refetched.revocations.length); // in format again
  });

  test("a transferred device's key reported compromised by its previous agency: the list carries that certificate and its agency's (<index>.issuer.cert)", async () => {
    const before = await t.pki.agency('before-transfer.example');
    const after = await t.pki.agency('after-transfer.example');
    const e = await t.pki.device(before);
    await register(t.gw, before, [e]);
    await register(t.gw, after, []);
    const from = nowS() - 100;
    expect((await revoke(t.gw, before, e.cert, from, 'affiliationChanged')).status).toBe(201);
    expect((await postCert(t, 'devices', await certify(after, e, 'device', nowS()))).status).toBe(201);
    const c = await connectDevice(t.gw, e);
    await c.publish(await reading(e, 1));
    const answer = await c.next();
    await c.end();
    if (answer.kind !== 'receipt') throw new Error('expected a receipt');
    expect((await revoke(t.gw, before, e.cert, from, 'keyCompromise')).status).toBe(201);
    const raw = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${answer.receipt.index}/bundle` });
    const bundle = decodeProofBundle(new Uint8Array(raw.rawPayload));
    const chainOnly = join(dir, 'transferred-stripped.cbor');
    await writeFile(chainOnly, encodeProofBundle({ ...bundle, certificates: bundle.certificates.slice(0, 2), revocations: [] }));
    expect(runVerify({ bundle: chainOnly, trust }).exitCode).toBe(0); // what a bundle alone cannot show

    const out = join(dir, 'transferred-revs');
    const fetched = await fetchRevocations({ gateway: t.gw.httpUrl, out });
    const mine = fetched.revocations.find((f) => f.sub === e.id && f.reason === 'keyCompromise')!;
    const [certFile, issuerFile] = [join(out, `${mine.index}.cert`), join(out, `${mine.index}.issuer.cert`)];
    expect(new Uint8Array(await readFile(certFile))).toEqual(e.cert.bytes);
    expect(new Uint8Array(await readFile(issuerFile))).toEqual(before.cert.bytes);
    const release = fetched.revocations.find((f) => f.sub === e.id && f.reason === 'affiliationChanged')!;
    expect([existsSync(join(out, `${release.index}.cert`)), existsSync(join(out, `${release.index}.issuer.cert`))]).toEqual([false, false]);
    const listed = runVerify({ bundle: chainOnly, trust, revocationLog: out });
    expect([listed.exitCode, revCheck(listed)?.code]).toEqual([1, 'CERT_REVOKED']);
    // the statement on its own with both certificates: placed too
    const placed = runVerify({ bundle: chainOnly, trust, revocations: [mine.file], certificates: [certFile, issuerFile] });
    expect([placed.exitCode, revCheck(placed)?.code]).toEqual([1, 'CERT_REVOKED']);
    // an issuer file that does not decode is unusable input; one missing leaves the statement unplaced (UNKNOWN_KEY)
    await writeFile(issuerFile, new Uint8Array([1, 2, 3]));
    expect(runVerify({ bundle: chainOnly, trust, revocationLog: out }).exitCode).toBe(2);
    await rm(issuerFile);
    expect(revCheck(runVerify({ bundle: chainOnly, trust, revocationLog: out }))?.code).toBe('UNKNOWN_KEY');
    // a list fetched in the earlier layout (format 2: agencies' certificates only) is fetched whole once
    await writeFile(join(out, 'format'), 'originproof revocation list 2\n');
    const refetched = await fetchRevocations({ gateway: t.gw.httpUrl, out });
    expect(refetched.kept).toBe(0);
    expect(new Uint8Array(await readFile(issuerFile))).toEqual(before.cert.bytes);
    expect(revCheck(runVerify({ bundle: chainOnly, trust, revocationLog: out }))?.code).toBe('CERT_REVOKED');
    // a stale issuer file is removed when the list is brought up to date
    await writeFile(join(out, '999999.issuer.cert'), before.cert.bytes);
    await register(t.gw, before, [await t.pki.device(before)]); // a newer checkpoint
    expect((await fetchRevocations({ gateway: t.gw.httpUrl, out })).kept).toBe(refetched.revocations.length);
    expect([existsSync(join(out, '999999.issuer.cert')), existsSync(issuerFile)]).toEqual([false, true]);
  });

  // Suspected by the verifier-CLI review: a fetch cut off while it rewrote the files left the old checkpoint beside a
  // mix of old and new files. A directory in place of the new statement's file makes the write fail midway here.
  test('a fetch cut off while it rewrites the files leaves no checkpoint (verify refuses the directory); the next fetch takes it whole', async () => {
    const out = join(dir, 'cut');
    await fetchRevocations({ gateway: t.gw.httpUrl, out });
    expect(existsSync(join(out, 'checkpoint'))).toBe(true);
    const extra = await t.pki.device(agency);
    await register(t.gw, agency, [extra]);
    expect((await revoke(t.gw, agency, extra.cert, nowS(), 'decommissioned')).status).toBe(201);
    const listed = (await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json() as { revocations: { index: number }[] };
    const last = listed.revocations.at(-1)!.index;
    await mkdir(join(out, `${last}.rev`));
    await expect(fetchRevocations({ gateway: t.gw.httpUrl, out })).rejects.toMatchObject({ code: 'EISDIR' });
    expect(existsSync(join(out, 'checkpoint'))).toBe(false); // was true: the earlier checkpoint, kept beside the mix
    const r = runVerify({ bundle: stripped, trust, revocationLog: out });
    expect(r.exitCode).toBe(2);
    await rm(join(out, `${last}.rev`), { recursive: true });
    const again = await fetchRevocations({ gateway: t.gw.httpUrl, out });
    expect([again.kept, existsSync(join(out, 'checkpoint')), again.revocations.at(-1)!.index]).toEqual([0, true, last]);
  });
});
