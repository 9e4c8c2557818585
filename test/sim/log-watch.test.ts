/**
 * The device's log watch (device-sim/log-watch.ts) over real signed notes, and the state file's new optional fields
 * (logCheckpoint, evidence): a state file written before them still loads, and they survive a write and a read.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ed25519NoteSigner, formatVerifierKey, openCheckpoint, parseVerifierKey, signCheckpoint, type NoteSigner } from '../../protocol/index.js';
import { LogWatch, MAX_EVIDENCE } from '../../device-sim/log-watch.js';
import { readState, writeState, type DeviceStateFile } from '../../device-sim/state.js';

const ORIGIN = 'gw.example/log';
const gatewayKey = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(7));
const otherKey = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(8));
const verifier = (k: typeof gatewayKey) => parseVerifierKey(formatVerifierKey(k.name, k.publicKey));
const note = (size: number, rootByte = size % 256, origin = ORIGIN, key: NoteSigner = gatewayKey) =>
  signCheckpoint({ origin, size, root: new Uint8Array(32).fill(rootByte), extensions: [`block ${size} AAAA`] }, key);

function state(extra: Partial<DeviceStateFile> = {}): DeviceStateFile {
  return {
    version: 1, deviceId: '00'.repeat(16), alg: 'ed25519', kind: 'temperature-sensor', agency: 'env.example', keyFile: 'd.se.json',
    certificate: '', firmware: '00'.repeat(32), readingTypes: ['temperature'],
    gateway: { httpUrl: 'http://127.0.0.1:1', mqttUrl: 'mqtt://127.0.0.1:1', aud: 'originproof', checkpointVerifierKey: formatVerifierKey(ORIGIN, gatewayKey.publicKey) },
    seqReserved: 99, seqBlock: 100, ...extra,
  };
}

describe('LogWatch', () => {
  test('the first checkpoint is written at once; a larger one waits for the next state write; the same one is nothing new', async () => {
    const s = state();
    const w = new LogWatch(s, verifier(gatewayKey));
    expect(w.observe(await note(5), 1)).toEqual({ evidence: null, persist: true });
    w.wrote(s);
    expect(w.dirty).toBe(false);
    const n7 = await note(7);
    expect(w.observe(n7, 2)).toEqual({ evidence: null, persist: false });
    expect([s.logCheckpoint, w.size, w.dirty]).toEqual([n7, 7, true]);
    expect(w.observe(await note(7), 3)).toEqual({ evidence: null, persist: false });
    expect(s.evidence).toBeUndefined();
  });

  test('a smaller checkpoint is a rollback: both notes kept, written at once, reported once', async () => {
    const s = state();
    const w = new LogWatch(s, verifier(gatewayKey));
    const [n10, n4, n6] = await Promise.all([note(10), note(4), note(6)]);
    w.observe(n10, 1);
    const seen = w.observe(n4, 2);
    expect(seen.persist).toBe(true);
    expect(seen.evidence).toEqual({ kind: 'rollback', detectedAtMs: 2, origin: ORIGIN, keptSize: 10, receivedSize: 4, kept: n10, received: n4 });
    expect(s.evidence).toEqual([seen.evidence]);
    for (const n of [seen.evidence!.kept, seen.evidence!.received]) expect(openCheckpoint(n, [verifier(gatewayKey)]).origin).toBe(ORIGIN);
    // The new checkpoint is the reference now: the receipts after it report nothing.
    expect(w.size).toBe(4);
    expect(w.observe(n4, 3).evidence).toBeNull();
    expect(w.observe(n6, 4).evidence).toBeNull();
    expect(s.evidence).toHaveLength(1);
  });

  test('the same size with another root is a fork', async () => {
    const w = new LogWatch(state(), verifier(gatewayKey));
    w.observe(await note(8, 1), 1);
    expect(w.observe(await note(8, 2), 2).evidence).toMatchObject({ kind: 'fork', keptSize: 8, receivedSize: 8 });
  });

  test('another origin is another log: adopted, no evidence', async () => {
    const s = state();
    const w = new LogWatch(s, verifier(gatewayKey));
    w.observe(await note(10), 1);
    expect(w.observe(await note(2, 2, 'other.example/log'), 2)).toEqual({ evidence: null, persist: true });
    expect([w.size, s.evidence]).toEqual([2, undefined]);
  });

  test('without the checkpoint key nothing is watched', async () => {
    const s = state();
    const w = new LogWatch(s, null);
    expect(w.observe(await note(10), 1)).toEqual({ evidence: null, persist: false });
    expect(w.observe(await note(1), 2).evidence).toBeNull();
    expect(s.logCheckpoint).toBeUndefined();
  });

  test('check(): the alert line even when the state file cannot be written; the evidence stays in memory for the next write', async () => {
    const s = state();
    const lines: string[] = [];
    let fail = false;
    const writes: DeviceStateFile[] = [];
    const w = new LogWatch(s, verifier(gatewayKey), {
      deviceId: 'dev1', where: 'dev1.json', log: (l) => lines.push(l),
      persist: () => {
        if (fail) throw new Error('ENOSPC');
        writes.push(structuredClone(s));
        w.wrote(s);
      },
    });
    expect(w.check(await note(9), 1)).toBeNull();
    expect(writes.map((x) => x.logCheckpoint)).toEqual([await note(9)]);
    fail = true;
    expect(w.check(await note(2), 2)).toMatchObject({ kind: 'rollback', keptSize: 9, receivedSize: 2 });
    expect(lines).toEqual([
      expect.stringMatching(/^device dev1: could not write dev1\.json \(ENOSPC\)/),
      expect.stringMatching(/^device dev1: CONSISTENCY_INVALID: the log gw\.example\/log went back from size 9 to 2: .* kept in dev1\.json/),
    ]);
    expect(w.dirty).toBe(true);
    fail = false;
    w.flush();
    expect(writes.at(-1)!.evidence).toHaveLength(1);
    expect(w.dirty).toBe(false);
  });

  test('evidence is bounded: the latest MAX_EVIDENCE are kept', async () => {
    const s = state();
    const w = new LogWatch(s, verifier(gatewayKey));
    for (let i = 0; i < MAX_EVIDENCE + 3; i++) {
      w.observe(await note(100), 2 * i);
      expect(w.observe(await note(50 + i), 2 * i + 1).evidence).not.toBeNull();
    }
    expect(s.evidence).toHaveLength(MAX_EVIDENCE);
    expect(s.evidence![MAX_EVIDENCE - 1]!.receivedSize).toBe(50 + MAX_EVIDENCE + 2);
  });
});

describe('the state file with and without logCheckpoint and evidence', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-log-watch-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('a state file written before the fields loads, with no reference', async () => {
    const path = join(dir, 'old.json');
    await writeFile(path, JSON.stringify(state()));
    const s = readState(path);
    expect(s.logCheckpoint).toBeUndefined();
    expect(s.evidence).toBeUndefined();
    expect(new LogWatch(s, verifier(gatewayKey)).size).toBeUndefined();
  });

  test('the reference and the evidence survive a write and a read; after a restart the rollback is still seen', async () => {
    const path = join(dir, 'new.json');
    const s = state();
    const w = new LogWatch(s, verifier(gatewayKey));
    w.observe(await note(20), 1);
    w.observe(await note(3), 2);
    w.observe(await note(30), 3);
    writeState(path, s);
    const back = readState(path);
    expect(back).toEqual(s);
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ logCheckpoint: await note(30), evidence: [{ kind: 'rollback', keptSize: 20, receivedSize: 3 }] });
    const again = new LogWatch(back, verifier(gatewayKey));
    expect(again.size).toBe(30);
    expect(again.observe(await note(12), 4).evidence).toMatchObject({ kind: 'rollback', keptSize: 30, receivedSize: 12 });
    expect(back.evidence).toHaveLength(2);
  });

  test('a kept checkpoint that does not verify with the provisioned key (another key, damaged) is dropped at boot', async () => {
    for (const logCheckpoint of [await note(50, 1, ORIGIN, otherKey), 'not a note', 42 as unknown as string]) {
      const s = state({ logCheckpoint });
      const w = new LogWatch(s, verifier(gatewayKey));
      expect([w.size, s.logCheckpoint, w.dirty]).toEqual([undefined, undefined, true]);
      expect(w.observe(await note(5), 1)).toEqual({ evidence: null, persist: true }); // no evidence from another key's note
    }
  });
});
