/**
 * A rewritten log: two real ledgers (LevelDB in temp dirs) with the same checkpoint key and origin share their
 * first entries and then diverge. `monitor` (its core function and the built CLI) alarms with
 * CONSISTENCY_INVALID naming both tree sizes, keeps the evidence, and alarms on every round until --acknowledge,
 * also once the gateway shows the honest log again; `verify --since` fails with CONSISTENCY_INVALID.
 * Also: the built `originproof verify` exits 0 / 1 / 2.
 */
import { execFile } from 'node:child_process';
import type { Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Ledger, type EntryInput } from '../../ledger/ledger.js';
import { encodeProofBundle } from '../../protocol/bundle.js';
import { toBase64, utf8ToBytes } from '../../protocol/bytes.js';
import { sha256 } from '../../protocol/hash.js';
import { ed25519NoteSigner, formatVerifierKey, openCheckpoint, parseVerifierKey } from '../../protocol/checkpoint.js';
import { ENTRY_AGENCY_REGISTRATION } from '../../protocol/log-entry.js';
import { loadState, monitorOnce } from '../../cli/commands/monitor.js';
import { runVerify } from '../../cli/commands/verify.js';
import { serve, type View } from './stand-in-gateway.js';
import { parseTrustText } from '../../protocol/trust.js';
import { issueCertificate } from '../../protocol/certificate.js';
import { ALG_EDDSA, ALG_ES256, DAY, kidOf, pubOf, signerFor } from '../protocol/fixtures.js';

const ORIGIN = 'fork.example/log';
const T0 = 1_767_225_600_000;
const seed = new Uint8Array(32).fill(7);
// Each entry is a real agency registration (the verifier checks registry payloads), received before its block's time.
const root = signerFor(ALG_EDDSA, 'fork root');
const window = { iat: T0 / 1000 - DAY, nbf: T0 / 1000 - DAY, exp: T0 / 1000 + 365 * DAY };
const agencyCert = (sub: string) =>
  issueCertificate(root, kidOf(root), { iss: 'root.example', sub, role: 'agency', holderKey: pubOf(signerFor(ALG_ES256, sub)), cti: sha256(utf8ToBytes(sub)).slice(0, 16), ...window });
const entries = async (tag: string, n: number, from: number): Promise<EntryInput[]> =>
  Promise.all(Array.from({ length: n }, async (_, i) => ({ type: ENTRY_AGENCY_REGISTRATION, payload: await agencyCert(`${tag}-${from + i}`), receivedAtMs: T0 - 100 + from + i })));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(process.cwd(), 'dist/cli/main.js'), ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 99) : 0, stdout, stderr });
    });
  });
}

describe('a forked log is caught by monitor and by verify --since', () => {
  let dir: string;
  let A: Ledger;
  let B: Ledger;
  let current: View;
  let srv: { server: Server; url: string };
  let trustPath: string;
  const p = (n: string) => join(dir, n);

  beforeAll(async () => {
    // The built CLI for the spawn checks comes from test/global-setup.ts.
    dir = await mkdtemp(join(tmpdir(), 'op-fork-'));
    const open = (name: string) => Ledger.open({ dir: join(dir, name), origin: ORIGIN, signer: ed25519NoteSigner(ORIGIN, seed), sync: false, clock: () => T0 });
    [A, B] = await Promise.all([open('a'), open('b')]);
    for (const L of [A, B]) {
      await L.appendBlock(await entries('common', 2, 0)); // size 2
      await L.appendBlock(await entries('common', 2, 2)); // size 4
    }
    current = { ledger: A, size: 4 };
    srv = await serve(() => current);
    trustPath = p('trust.json');
    await writeFile(trustPath, JSON.stringify({ roots: [{ name: 'root.example', alg: 'EdDSA', publicKey: Buffer.from(root.publicKey).toString('hex') }], checkpointKeys: [{ key: A.verifierKey }] }));
  }, 120_000);
  afterAll(async () => {
    await new Promise((r) => srv.server.close(r));
    await Promise.all([A.close(), B.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  test('same key, same origin, same first 4 entries, then diverging', async () => {
    expect(A.verifierKey).toBe(B.verifierKey);
    expect(await A.checkpoint(4)).toBe(await B.checkpoint(4));
    await A.appendBlock(await entries('honest', 3, 4)); // A: size 7
    await B.appendBlock(await entries('forged', 2, 4)); // B: size 6
    await B.appendBlock(await entries('forged', 2, 6)); // B: size 8
    expect([A.size, B.size]).toEqual([7, 8]);
  });

  test('monitor: first, unchanged, grew, then REWRITE alarm naming both sizes, again on every later run', async () => {
    const trust = parseTrustText(await readFile(trustPath, 'utf8'));
    const state = p('monitor.json');
    // Follow A from size 4 to 7.
    current = { ledger: A, size: 4 };
    expect(await monitorOnce({ gateway: srv.url, statePath: state, trust })).toMatchObject({ status: 'first', checkpoint: { size: 4 } });
    expect(await monitorOnce({ gateway: srv.url, statePath: state, trust })).toMatchObject({ status: 'unchanged' });
    current = { ledger: A, size: 7 };
    expect(await monitorOnce({ gateway: srv.url, statePath: state, trust })).toMatchObject({ status: 'grew', from: 4, to: 7 });
    // The gateway now serves the forked log B (size 8): signed by the same key, but not an extension of 7.
    current = { ledger: B, size: 8 };
    const alarm = await monitorOnce({ gateway: srv.url, statePath: state, trust });
    expect(alarm).toMatchObject({ status: 'alarm', code: 'CONSISTENCY_INVALID', from: 7, to: 8 });
    expect(alarm.message).toMatch(/tree size 8 does not extend the one at tree size 7/);
    expect(await monitorOnce({ gateway: srv.url, statePath: state, trust })).toMatchObject({ status: 'alarm', code: 'CONSISTENCY_INVALID', from: 7, to: 8 });
    const s = loadState(state, srv.url);
    expect(s.latest?.size).toBe(7); // the last good checkpoint stays
    expect(s.history.map((h) => h.size)).toEqual([4, 7]);
    expect(s.alarms).toHaveLength(2);
    // The evidence: the forked checkpoint as served, the last good one, and the gateway's proof that fails.
    const forkedNote = (await B.checkpoint(8))!;
    expect(s.alarms[0]).toMatchObject({
      code: 'CONSISTENCY_INVALID', from: 7, to: 8, note: forkedNote,
      consistency: {
        last: { size: 7, root: s.latest!.root, note: (await A.checkpoint(7))! }, served: { size: 8, root: toBase64(openCheckpoint(forkedNote, [parseVerifierKey(B.verifierKey)]).root) },
        proof: { from: 7, to: 8, hashes: (await B.consistencyProof(7, 8)).map(toBase64) },
      },
    });
    expect(s.alarms[0]!.acknowledgedAt).toBeUndefined();

    // A monitor that first saw the fork at 8 alarms when the honest log (7) comes back: the log must not shrink.
    const state2 = p('monitor2.json');
    expect(await monitorOnce({ gateway: srv.url, statePath: state2 })).toMatchObject({ status: 'first', checkpoint: { size: 8 } }); // key pinned on first use
    expect(loadState(state2, srv.url).verifierKey).toBe(B.verifierKey);
    current = { ledger: A, size: 7 };
    expect(await monitorOnce({ gateway: srv.url, statePath: state2 })).toMatchObject({ status: 'alarm', code: 'CONSISTENCY_INVALID', from: 8, to: 7 });

    // A checkpoint it cannot verify (another key) is an alarm too.
    const other = parseTrustText(JSON.stringify({ checkpointKeys: [formatVerifierKey(ORIGIN, new Uint8Array(32).fill(9))] }));
    const bad = await monitorOnce({ gateway: srv.url, statePath: p('monitor3.json'), trust: other });
    expect(bad).toMatchObject({ status: 'alarm', code: 'CHECKPOINT_INVALID' });
    expect(bad.message).toMatch(/tree size 7/);
    expect(loadState(p('monitor3.json'), srv.url).alarms[0]!.note).toBe(await A.checkpoint(7)); // the note it could not verify
  });

  test('verify --since: a forked bundle fails CONSISTENCY_INVALID against the honest checkpoint; the shared prefix passes', async () => {
    await writeFile(p('a7.txt'), (await A.checkpoint(7))!);
    await writeFile(p('a4.txt'), (await A.checkpoint(4))!);
    const forged = await B.proofBundle(7); // entry 7 of B, in B's block ending at tree size 8
    await writeFile(p('fork-since7.cbor'), encodeProofBundle({ ...forged, consistency: { fromSize: 7, proof: await B.consistencyProof(7, 8) } }));
    await writeFile(p('fork-since4.cbor'), encodeProofBundle({ ...forged, consistency: { fromSize: 4, proof: await B.consistencyProof(4, 8) } }));

    const bad = runVerify({ bundle: p('fork-since7.cbor'), trust: trustPath, since: p('a7.txt') });
    expect(bad.exitCode, bad.output).toBe(1);
    expect(bad.verdict!.checks.filter((c) => c.status === 'fail').map((c) => [c.name, c.code])).toEqual([['consistency', 'CONSISTENCY_INVALID']]);
    expect(bad.output).toMatch(/does not extend the log of size 7/);
    // Without --since the forged bundle is, on its own, a well-signed bundle: only the older checkpoint exposes it.
    expect(runVerify({ bundle: p('fork-since7.cbor'), trust: trustPath }).exitCode).toBe(0);
    const ok = runVerify({ bundle: p('fork-since4.cbor'), trust: trustPath, since: p('a4.txt') });
    expect(ok.exitCode, ok.output).toBe(0);
    expect(ok.verdict!.checks.find((c) => c.name === 'consistency')).toMatchObject({ status: 'pass' });
  });

  test('built CLI: verify exits 0 / 1 / 2; monitor --once exits 1 with the alarm', async () => {
    expect(existsSync(join(process.cwd(), 'dist/cli/main.js'))).toBe(true);
    await writeFile(p('garbage.cbor'), 'not a bundle');
    const valid = await run(['verify', p('fork-since4.cbor'), '--trust', trustPath, '--since', p('a4.txt')]);
    expect(valid.code, valid.stdout + valid.stderr).toBe(0);
    expect(valid.stdout).toMatch(/^consistency\s+PASS/m);
    const invalid = await run(['verify', p('fork-since7.cbor'), '--trust', trustPath, '--since', p('a7.txt'), '--json']);
    expect(invalid.code).toBe(1);
    expect(JSON.parse(invalid.stdout)).toMatchObject({ valid: false });
    expect(JSON.parse(invalid.stdout).checks.find((c: { name: string }) => c.name === 'consistency')).toMatchObject({ status: 'fail', code: 'CONSISTENCY_INVALID' });
    const unusable = await run(['verify', p('garbage.cbor'), '--trust', trustPath]);
    expect(unusable.code).toBe(2);
    expect(unusable.stdout).toMatch(/UNUSABLE INPUT \[MALFORMED\]/);
    expect((await run(['verify', p('fork-since4.cbor'), '--trust', p('missing.json')])).code).toBe(2);

    // monitor: a state that saw the honest 7, and a gateway now serving the fork.
    current = { ledger: B, size: 8 };
    const m = await run(['monitor', '--gateway', srv.url, '--state', p('monitor.json'), '--trust', trustPath, '--once']);
    expect(m.code, m.stdout + m.stderr).toBe(1);
    expect(m.stderr).toMatch(/ALARM \[CONSISTENCY_INVALID\].*tree size 8 does not extend the one at tree size 7/);
    const fresh = await run(['monitor', '--gateway', srv.url, '--state', p('monitor-fresh.json'), '--once']);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stdout).toMatch(/first: first checkpoint of fork\.example\/log: tree size 8/);
  }, 60_000);

  test('monitor: a fork shown once, then the honest log again: every round alarms (still following the log) until --acknowledge', async () => {
    const trust = parseTrustText(await readFile(trustPath, 'utf8'));
    const state = p('sticky.json');
    const once = (acknowledge = false) => monitorOnce({ gateway: srv.url, statePath: state, trust, acknowledge });
    current = { ledger: A, size: 7 };
    expect(await once()).toMatchObject({ status: 'first', checkpoint: { size: 7 } });
    current = { ledger: B, size: 8 }; // shown once
    expect(await once()).toMatchObject({ status: 'alarm', code: 'CONSISTENCY_INVALID', from: 7, to: 8, unacknowledged: 1 });
    const alarm = loadState(state, srv.url).alarms[0]!;
    expect(alarm.note).toBe(await B.checkpoint(8));

    // The honest log again: the round itself sees nothing wrong, but the alarm stands, named with the count.
    current = { ledger: A, size: 7 };
    const again = await once();
    expect(again).toMatchObject({ status: 'alarm', round: 'unchanged', code: 'CONSISTENCY_INVALID', from: 7, to: 8, unacknowledged: 1, firstUnacknowledged: alarm });
    expect(again.message).toMatch(/^1 unacknowledged alarm\(s\), the first at .*: \[CONSISTENCY_INVALID\] REWRITE: .*; this round: tree size 7 unchanged$/);
    // It keeps following the log: the last good checkpoint advances, and no new alarm is recorded.
    await A.appendBlock(await entries('honest', 2, 7)); // A: size 9
    current = { ledger: A, size: 9 };
    expect(await once()).toMatchObject({ status: 'alarm', round: 'grew', code: 'CONSISTENCY_INVALID', unacknowledged: 1, checkpoint: { size: 9 } });
    expect(loadState(state, srv.url)).toMatchObject({ latest: { size: 9 }, alarms: [{ at: alarm.at }] });

    // An older state file (alarms without evidence or acknowledgedAt) still loads, and its alarm stands too.
    const old = loadState(state, srv.url);
    const oldPath = p('sticky-old.json');
    await writeFile(oldPath, JSON.stringify({ ...old, alarms: old.alarms.map(({ at, code, message, from, to }) => ({ at, code, message, from, to })) }));
    expect(await monitorOnce({ gateway: srv.url, statePath: oldPath, trust })).toMatchObject({ status: 'alarm', round: 'unchanged', unacknowledged: 1 });

    // The built CLI: exit 1 while the alarm is unacknowledged, 0 once --acknowledge marked it; later rounds stay quiet.
    const cli = (...extra: string[]) => run(['monitor', '--gateway', srv.url, '--state', state, '--trust', trustPath, '--once', ...extra]);
    const stuck = await cli();
    expect(stuck.code, stuck.stdout + stuck.stderr).toBe(1);
    expect(stuck.stderr).toMatch(/ALARM \[CONSISTENCY_INVALID\]: 1 unacknowledged alarm\(s\).*this round: tree size 9 unchanged/);
    expect(stuck.stderr).toMatch(/run with --acknowledge/);
    const acked = await cli('--acknowledge');
    expect(acked.code, acked.stdout + acked.stderr).toBe(0);
    expect(acked.stdout).toMatch(/acknowledged 1 alarm\(s\) in .*\n.* unchanged: tree size 9 unchanged/);
    expect(loadState(state, srv.url).alarms[0]!.acknowledgedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect((await cli()).code).toBe(0);
    expect(await once()).toMatchObject({ status: 'unchanged' });
    // A new fork alarms again, on its own.
    current = { ledger: B, size: 8 };
    expect(await once()).toMatchObject({ status: 'alarm', code: 'CONSISTENCY_INVALID', from: 9, to: 8, unacknowledged: 1 });
  }, 60_000);
});
