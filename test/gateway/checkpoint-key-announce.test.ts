/**
 * The gateway announces its next checkpoint key (docs/DESIGN.md "Checkpoint key rotation", SPEC §7 "A new checkpoint
 * key"; gateway/checkpoint-next-key.ts): with the next key's file in the data directory, every checkpoint signed from
 * the next start on ends with the line `next-key <verifier key>` and carries a second signature line, by that key; a
 * device-sim device keeps the key as its next one; everything that checks stored checkpoints with the log's key
 * (the start, GET /v1/log, bundles offline and POST /v1/verify, the monitor, `ledger verify`) skips the other line.
 * Withdrawn (the file removed) and restarted: no line, and the device drops the key. Real components: a gateway on
 * port 0 (aedes, Fastify, LevelDB in a temp dir), a device-sim device over MQTT.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  decodeProofBundle, ed25519NoteSigner, ENTRY_READING, formatCheckpoint, formatVerifierKey, fromHex, nextKeyExtension, parseCheckpoint, parseNote, parseTrustText, signCheckpoint,
  toHex, verifyBundle,
} from '../../protocol/index.js';
import { deviceFrom, onboardDevice, readState, type Device, type Onboarded } from '../../device-sim/index.js';
import { startGateway } from '../../gateway/gateway.js';
import { CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-key.js';
import { announceNextCheckpointKey, NEXT_CHECKPOINT_KEY_FILE, NextKeyExists, withdrawNextCheckpointKey } from '../../gateway/checkpoint-next-key.js';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { verifyLedger } from '../../ledger/verify.js';
import { monitorOnce } from '../../cli/commands/monitor.js';
import { startSimGateway, type SimGateway } from '../sim/helpers.js';

const ORIGIN = 'originproof.local/log'; // the gateway's default origin (startSimGateway sets none)
const codeOf = (p: Promise<unknown>) => p.then(() => 'no refusal', (err: { code?: string }) => err.code);

describe('announcing the next checkpoint key', () => {
  let t: SimGateway;
  let o: Onboarded;
  let d: Device;
  let dataDir: string;
  let current: string;
  let next: string;
  const monitorState = () => join(t.dir, 'monitor.json');
  /** A reading sent and its receipt's checkpoint: its text (parsed) and its signature lines' key ids. */
  const send = async () => {
    const seq = (await d.sendReading())!;
    const receipt = await d.nextReceipt(seq, 20_000);
    const { text, signatures } = parseNote(receipt.checkpoint);
    return { receipt, checkpoint: parseCheckpoint(text), signedBy: signatures.map((s) => `${s.name}+${toHex(s.keyId)}`) };
  };
  const idOf = (vkey: string) => vkey.split('+').slice(0, 2).join('+');
  const trustOnlyCurrent = () => parseTrustText(t.root.trustJson([current]));
  const bundleOf = async (index: number) => new Uint8Array((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` })).rawPayload);

  beforeAll(async () => {
    t = await startSimGateway({ blockMaxMs: 5 });
    dataDir = join(t.dir, 'data');
    current = t.gw.checkpointVerifierKey;
    o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', dir: t.dir });
    d = deviceFrom(o, { reconnectMinMs: 20, reconnectMaxMs: 100 });
    await d.connect();
  }, 30_000);
  afterAll(async () => {
    await d?.close();
    await t?.gw.close().catch(() => undefined);
    if (t) await rm(t.dir, { recursive: true, force: true });
  });

  test('announced and restarted: next-key line, two signatures, the device keeps the key; the log\'s checks pass; withdrawn: gone', async () => {
    // Before: one signature, no line; GET /v1/log names no next key.
    let r = await send();
    expect(r.signedBy).toEqual([idOf(current)]);
    expect(r.checkpoint.extensions.some((e) => e.startsWith('next-key'))).toBe(false);
    expect(t.gw.nextCheckpointVerifierKey).toBeNull();
    expect('nextVerifierKey' in ((await t.gw.app.inject({ url: '/v1/log' })).json() as object)).toBe(false);
    expect((await monitorOnce({ gateway: t.gw.httpUrl, statePath: monitorState(), trust: trustOnlyCurrent() })).status).toBe('first');

    // Announced (files only: the running gateway does not change), then restarted.
    const announced = await announceNextCheckpointKey(dataDir, ORIGIN);
    next = announced.verifierKey;
    expect(announced.path).toBe(join(dataDir, NEXT_CHECKPOINT_KEY_FILE));
    expect(t.gw.nextCheckpointVerifierKey).toBeNull();
    await t.restart();
    expect(t.gw.checkpointVerifierKey).toBe(current);
    expect(t.gw.nextCheckpointVerifierKey).toBe(next);
    const log = (await t.gw.app.inject({ url: '/v1/log' })).json() as { verifierKey: string; nextVerifierKey?: string };
    expect([log.verifierKey, log.nextVerifierKey]).toEqual([current, next]);

    r = await send();
    expect(r.signedBy).toEqual([idOf(current), idOf(next)]);
    expect(r.checkpoint.extensions.at(-1)).toBe(nextKeyExtension(next));
    expect(r.checkpoint.extensions.filter((e) => e.startsWith('next-key'))).toHaveLength(1);
    expect(d.checkpointKeys).toEqual({ current, next });
    expect(readState(o.statePath!).gateway.nextCheckpointVerifierKey).toBe(next);

    // The log's own checks of that checkpoint, all with the current key alone: GET /v1/log serves it (checked with
    // the log's key), a bundle verifies offline with a trust file holding only the current key and at POST /v1/verify,
    // and the monitor (trusting only the current key) sees the log grow.
    expect(((await t.gw.app.inject({ url: '/v1/log' })).json() as { checkpoint: string }).checkpoint).toBe(r.receipt.checkpoint);
    const bundle = await bundleOf(r.receipt.index);
    expect(decodeProofBundle(bundle).checkpoint).toBe(r.receipt.checkpoint);
    const offline = verifyBundle(decodeProofBundle(bundle), trustOnlyCurrent());
    expect(offline.valid, JSON.stringify(offline.checks)).toBe(true);
    const posted = (await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle: Buffer.from(bundle).toString('base64') } })).json() as { valid: boolean };
    expect(posted.valid).toBe(true);
    const seen = await monitorOnce({ gateway: t.gw.httpUrl, statePath: monitorState(), trust: trustOnlyCurrent() });
    expect([seen.status, seen.code]).toEqual(['grew', undefined]);

    // Withdrawn, restarted: the start reads back a latest checkpoint of two signatures; new ones name no next key.
    expect(await withdrawNextCheckpointKey(dataDir)).toBe(true);
    await t.restart();
    expect(t.gw.nextCheckpointVerifierKey).toBeNull();
    expect('nextVerifierKey' in ((await t.gw.app.inject({ url: '/v1/log' })).json() as object)).toBe(false);
    r = await send();
    expect(r.signedBy).toEqual([idOf(current)]);
    expect(r.checkpoint.extensions.some((e) => e.startsWith('next-key'))).toBe(false);
    expect(d.checkpointKeys).toEqual({ current, next: null });
    expect(readState(o.statePath!).gateway.nextCheckpointVerifierKey).toBeUndefined();
    expect((await monitorOnce({ gateway: t.gw.httpUrl, statePath: monitorState(), trust: trustOnlyCurrent() })).status).toBe('grew');
    // The announced entry's bundle still verifies (its block's checkpoint, two signatures).
    expect(verifyBundle(decodeProofBundle(await bundleOf(r.receipt.index - 1)), trustOnlyCurrent()).valid).toBe(true);

    // `ledger verify` (as the CLI runs it) over the whole log, blocks of both kinds.
    await d.close();
    await t.gw.close();
    const backend = await LevelBackend.open(join(dataDir, 'ledger'), { sync: false });
    try {
      const report = await verifyLedger(backend);
      expect(report.ok, JSON.stringify(report.problem)).toBe(true);
      expect(report.entries).toBeGreaterThanOrEqual(5); // agency, device, three readings
    } finally {
      await backend.close();
    }
  }, 90_000);
});

describe('refusals', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-announce-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const start = (dataDir: string) => startGateway({ dataDir, host: '127.0.0.1', httpPort: 0, mqttPort: 0, logLevel: 'silent', verifyWorkers: 1 });
  /** A data directory a gateway made (its key and log), the gateway stopped. */
  const made = async (name: string) => {
    const dataDir = join(dir, name);
    await (await start(dataDir)).close();
    return dataDir;
  };

  test('announce-key without a current key: CHECKPOINT_KEY_MISSING; without its log: LEDGER_MISSING; nothing made', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    expect(await codeOf(announceNextCheckpointKey(empty, ORIGIN))).toBe('CHECKPOINT_KEY_MISSING');
    expect(await codeOf(announceNextCheckpointKey(join(dir, 'nowhere'), ORIGIN))).toBe('CHECKPOINT_KEY_MISSING');
    const noLog = join(dir, 'no-log');
    await mkdir(noLog);
    await copyFile(join(await made('with-log'), CHECKPOINT_KEY_FILE), join(noLog, CHECKPOINT_KEY_FILE));
    expect(await codeOf(announceNextCheckpointKey(noLog, ORIGIN))).toBe('LEDGER_MISSING');
    expect(await codeOf(readFile(join(noLog, NEXT_CHECKPOINT_KEY_FILE)))).toBe('ENOENT');
    expect(await codeOf(withdrawNextCheckpointKey(empty))).toBe('CHECKPOINT_KEY_MISSING');
  }, 30_000);

  test('announce-key with a next key announced: CONFLICT naming it, the file unchanged; withdrawn, another can be', async () => {
    const dataDir = await made('twice');
    const first = await announceNextCheckpointKey(dataDir, ORIGIN);
    expect((await stat(first.path)).mode & 0o777).toBe(0o600); // a secret key, as the current one
    expect(JSON.parse(await readFile(first.path, 'utf8'))).toMatchObject({ alg: 'ed25519', secretKey: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const bytes = await readFile(first.path);
    const err = await announceNextCheckpointKey(dataDir, ORIGIN).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(NextKeyExists);
    expect((err as NextKeyExists).code).toBe('CONFLICT');
    expect((err as NextKeyExists).verifierKey).toBe(first.verifierKey);
    expect((err as Error).message).toContain(first.verifierKey);
    expect(await readFile(first.path)).toEqual(bytes);
    expect(await withdrawNextCheckpointKey(dataDir)).toBe(true);
    expect(await withdrawNextCheckpointKey(dataDir)).toBe(false);
    expect((await announceNextCheckpointKey(dataDir, ORIGIN)).verifierKey).not.toBe(first.verifierKey);
  }, 30_000);

  test('withdraw-key once the log switched to the next key (a rotation cut short): refused (CHECKPOINT_KEY_MISMATCH), the key kept', async () => {
    const dataDir = await made('cut-short');
    const next = await announceNextCheckpointKey(dataDir, ORIGIN);
    const bytes = await readFile(next.path);
    // rotate-key's first step alone (Ledger.rotateKey), as a crash before the key files moved leaves it: the log is
    // signed by the next key now, and the next key file is the only copy of it
    const current = JSON.parse(await readFile(join(dataDir, CHECKPOINT_KEY_FILE), 'utf8')) as { publicKey: string };
    await Ledger.rotateKey({ dir: join(dataDir, 'ledger'), origin: ORIGIN, signer: { name: ORIGIN, publicKey: fromHex(current.publicKey) }, next: { name: ORIGIN, publicKey: next.signer.publicKey } });
    expect(await codeOf(withdrawNextCheckpointKey(dataDir))).toBe('CHECKPOINT_KEY_MISMATCH');
    expect(await readFile(next.path)).toEqual(bytes);
    // a next key the log has not switched to is withdrawn as before (here: none left to sign the log otherwise)
    const other = await made('not-switched');
    await announceNextCheckpointKey(other, ORIGIN);
    expect(await withdrawNextCheckpointKey(other)).toBe(true);
  }, 30_000);

  test('a next key file that is not a key: the start is refused (CHECKPOINT_KEY_UNUSABLE, naming it), the file never replaced', async () => {
    const dataDir = await made('garbled');
    const path = join(dataDir, NEXT_CHECKPOINT_KEY_FILE);
    for (const text of ['{"alg": "ed25519", "secretKey": "00"}\n', 'not json', '']) {
      await writeFile(path, text);
      const err = await start(dataDir).then(() => null, (e: { code?: string; message: string }) => e);
      expect(err?.code).toBe('CHECKPOINT_KEY_UNUSABLE');
      expect(err?.message).toContain(path);
      expect(await readFile(path, 'utf8')).toBe(text);
    }
    await rm(path);
    await (await start(dataDir)).close(); // and the store was closed: a start again goes
  }, 30_000);

  test('a next key equal to the current one: the start is refused (CONFIG_INVALID)', async () => {
    const dataDir = await made('same');
    await copyFile(join(dataDir, CHECKPOINT_KEY_FILE), join(dataDir, NEXT_CHECKPOINT_KEY_FILE));
    const err = await start(dataDir).then(() => null, (e: { code?: string; message: string }) => e);
    expect(err?.code).toBe('CONFIG_INVALID');
    expect(err?.message).toContain(NEXT_CHECKPOINT_KEY_FILE);
  }, 30_000);
});

test('without a next key, a checkpoint is exactly what it was: the block and revocations lines, one signature', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'op-announce-ledger-'));
  const signer = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(3));
  const ledger = await Ledger.open({ dir, origin: ORIGIN, signer, blockMaxDelayMs: 1, sync: false });
  try {
    const { checkpoint } = await ledger.submit({ type: ENTRY_READING, payload: new Uint8Array([1, 2, 3]) });
    const cp = parseCheckpoint(parseNote(checkpoint).text);
    expect(cp.extensions.map((e) => e.split(' ')[0])).toEqual(['block', 'revocations']);
    expect(checkpoint).toBe(await signCheckpoint(cp, signer)); // the note as one signer signs that text: nothing else
    expect(formatCheckpoint(cp)).toBe(parseNote(checkpoint).text);
    expect(ledger.nextVerifierKey).toBeNull();
    expect(formatVerifierKey(ORIGIN, signer.publicKey)).toBe(ledger.verifierKey);
  } finally {
    await ledger.close();
    await rm(dir, { recursive: true, force: true });
  }
});
