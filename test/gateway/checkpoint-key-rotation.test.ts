/**
 * A gateway whose log's checkpoint key was retired for a next one (Ledger.rotateKey while it was stopped, and the key
 * file replaced by the next key): it starts with the new key, signs what it logs from then on with it, and every entry
 * of both parts of the log verifies offline with its own trust material (GET /v1/trust lists the retired key until the
 * rotation and the new one from then), in POST /v1/verify, and in `ledger verify`. The retired key file no longer
 * starts it (CHECKPOINT_KEY_MISMATCH, saying so). Real gateway, LevelDB, MQTT.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-key.js';
import { NEXT_CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-next-key.js';
import { ConfigError } from '../../gateway/config.js';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { verifyLedger } from '../../ledger/verify.js';
import { ALG_EDDSA, decodeBlockHeader, ed25519NoteSigner, formatVerifierKey, fromHex, generateSecretKey, toBase64, toHex, nobleSigner, openCheckpoint, parseTrust, parseVerifierKey, verifyBundle } from '../../protocol/index.js';
import { entryBundle, gatewayTrust, gatewayWithDevices, publishEach, reading, startTestGateway, unverifiableEntries, type Device, type TestGateway } from './harness.js';

const ORIGIN = 'originproof.local/log'; // the gateway's default origin

describe('a gateway after its checkpoint key was rotated', () => {
  let t: TestGateway | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  /** While stopped: the log's key retired for a new one, and the key file replaced by it. Returns both verifier keys. */
  async function rotate(dataDir: string, nowMs?: number): Promise<{ old: string; next: string; oldFile: string }> {
    const keyPath = join(dataDir, CHECKPOINT_KEY_FILE);
    const oldFile = await readFile(keyPath, 'utf8');
    const current = ed25519NoteSigner(ORIGIN, fromHex((JSON.parse(oldFile) as { secretKey: string }).secretKey));
    const secret = generateSecretKey(ALG_EDDSA);
    const next = ed25519NoteSigner(ORIGIN, secret);
    await Ledger.rotateKey({ dir: join(dataDir, 'ledger'), origin: ORIGIN, signer: current, next, ...(nowMs !== undefined ? { nowMs } : {}) });
    const publicKey = nobleSigner(ALG_EDDSA, secret).publicKey;
    await writeFile(keyPath, JSON.stringify({ alg: 'ed25519', secretKey: toHex(secret), publicKey: toHex(publicKey), createdAt: new Date().toISOString() }), { mode: 0o600 });
    return { old: formatVerifierKey(ORIGIN, current.publicKey), next: formatVerifierKey(ORIGIN, next.publicKey), oldFile };
  }

  const publish = async (d: Device, seqs: number[]) => {
    const out = await publishEach(t!, d, await Promise.all(seqs.map((s) => reading(d, s))));
    for (const o of out) expect(typeof o).toBe('object'); // receipts
    return out as { index: number }[];
  };

  test('entries of both keys verify offline and in POST /v1/verify; ledger verify passes; the retired key file is refused, as key and as next key', async () => {
    const fx = await gatewayWithDevices(1);
    t = fx.t;
    const dev = fx.devices[0]!;
    const before = await publish(dev, [1, 2, 3]);
    const dataDir = join(t.dir, 'data');
    let keys!: Awaited<ReturnType<typeof rotate>>;
    await t.restart(async () => {
      keys = await rotate(dataDir);
    });
    expect(t.gw.checkpointVerifierKey).toBe(keys.next);
    const after = await publish(dev, [4, 5]);
    expect(after[0]!.index).toBeGreaterThan(before[2]!.index);

    // GET /v1/trust: the retired key until the rotation, the new one from then, windows meeting
    const served = (await t.gw.app.inject({ method: 'GET', url: '/v1/trust' })).json() as { checkpointKeys: { key: string; notBefore?: number; notAfter?: number }[] };
    const [oldKey, newKey] = [served.checkpointKeys.find((k) => k.key === keys.old), served.checkpointKeys.find((k) => k.key === keys.next)];
    expect(oldKey?.notAfter).toBeGreaterThan(0);
    expect(newKey?.notBefore).toBeGreaterThan(0);
    expect(newKey!.notBefore! <= oldKey!.notAfter!).toBe(true);
    expect(oldKey!.notAfter! - newKey!.notBefore!).toBeLessThanOrEqual(1);

    // every entry, of either key, verifies offline with that trust material
    const { size, bad } = await unverifiableEntries(t);
    expect([size > after[1]!.index, bad]).toEqual([true, []]);
    // each part's checkpoints signed by its own key alone
    const oldBundle = await entryBundle(t, before[0]!.index);
    const newBundle = await entryBundle(t, after[0]!.index);
    expect(openCheckpoint(oldBundle.checkpoint, [parseVerifierKey(keys.old)]).size).toBe(oldBundle.treeSize);
    expect(() => openCheckpoint(oldBundle.checkpoint, [parseVerifierKey(keys.next)])).toThrow(expect.objectContaining({ code: 'CHECKPOINT_INVALID', path: 'signature' }));
    expect(openCheckpoint(newBundle.checkpoint, [parseVerifierKey(keys.next)]).size).toBe(newBundle.treeSize);
    // a trust file holding the old key alone does not take the new part
    const oldOnly = parseTrust({ ...served, checkpointKeys: [{ key: keys.old }] });
    expect(verifyBundle(oldBundle, oldOnly).valid).toBe(true);
    expect(verifyBundle(newBundle, oldOnly).valid).toBe(false);

    // POST /v1/verify, a bundle of each part
    for (const b of [before[0]!.index, after[0]!.index]) {
      const raw = (await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${b}/bundle` })).rawPayload;
      const verdict = (await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle: toBase64(new Uint8Array(raw)) } })).json() as { valid: boolean };
      expect([b, verdict.valid]).toEqual([b, true]);
    }

    // ledger verify over both keys' parts
    await t.gw.close();
    const backend = await LevelBackend.open(join(dataDir, 'ledger'), { sync: false });
    const report = await verifyLedger(backend, { workers: 1 });
    await backend.close();
    expect([report.ok, report.problem]).toEqual([true, undefined]);
    // the retired key file copied as the next key: refused (CONFIG_INVALID), as a copy of the current key is; it
    // started, announcing the retired key, which devices then took back as their next key
    await writeFile(join(dataDir, NEXT_CHECKPOINT_KEY_FILE), keys.oldFile, { mode: 0o600 });
    const asNext = await startTestGateway(t.pki, {}, t.dir).then(async (g) => (await g.gw.close(), null), (e: unknown) => e);
    expect((asNext as ConfigError | null)?.code).toBe('CONFIG_INVALID');
    await rm(join(dataDir, NEXT_CHECKPOINT_KEY_FILE));
    // the retired key file put back: refused, saying it was retired
    await writeFile(join(dataDir, CHECKPOINT_KEY_FILE), keys.oldFile, { mode: 0o600 });
    const err = await startTestGateway(t.pki, {}, t.dir).then(async (g) => (await g.gw.close(), null), (e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('CHECKPOINT_KEY_MISMATCH');
    expect((err as Error).message).toMatch(/retired at tree size/);
    await rm(t.dir, { recursive: true, force: true });
    t = undefined;
  }, 60_000);

  test("rotated by a clock ahead of the gateway's: the new key's blocks are dated from the switch, so their bundles verify", async () => {
    const fx = await gatewayWithDevices(1);
    t = fx.t;
    const dev = fx.devices[0]!;
    await publish(dev, [1, 2]);
    const dataDir = join(t.dir, 'data');
    // rotate-key run where the clock is two minutes ahead (another host, a clock not yet corrected): the retired key's
    // window ends, and the new key's begins, then; the gateway's blocks signed by the new key would be dated before it
    const aheadMs = Date.now() + 120_000;
    await t.restart(async () => {
      await rotate(dataDir, aheadMs);
    });
    const after = await publish(dev, [3, 4]);
    expect(decodeBlockHeader((await entryBundle(t, after[0]!.index)).blockHeader).timeMs).toBeGreaterThanOrEqual(aheadMs);
    // every entry, of either key, verifies offline with GET /v1/trust once the verifier's clock has reached the switch
    // (a key vouches only once its window has begun); the new key's blocks were dated before its window, for good
    const trust = await gatewayTrust(t);
    const size = ((await t.gw.app.inject({ method: 'GET', url: '/v1/log' })).json() as { size: number }).size;
    expect(size).toBeGreaterThan(after[1]!.index);
    const now = Math.floor(aheadMs / 1000) + 60;
    for (let i = 0; i < size; i++) {
      const v = verifyBundle(await entryBundle(t, i), trust, { now });
      expect([i, v.valid, v.checks.filter((c) => c.status === 'fail').map((c) => c.code)]).toEqual([i, true, []]);
    }
  }, 60_000);
});
