/**
 * The gateway's trust file naming a checkpoint key its log retired, without a window (a trust file written before
 * the rotation, naming the gateway's key as it was): the log's key history bounds the key all the same. Found by
 * review: POST /v1/verify (and GET /v1/trust) took the file's unbounded entry over the log's window, so a checkpoint
 * signed by the retired key for a block dated after the switch (what a leaked retired key could sign) was valid
 * there, though the log says that key signs nothing after the switch. The rule (README "Checkpoint key rotation"): a
 * key of the log keeps the window the file gives it narrowed to the log's; the file may narrow it, never widen it.
 * Real gateway, LevelDB, MQTT; the rotation as test/gateway/checkpoint-key-rotation.test.ts makes it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-key.js';
import { Ledger } from '../../ledger/ledger.js';
import {
  ALG_EDDSA, decodeProofBundle, ed25519NoteSigner, encodeProofBundle, formatVerifierKey, fromHex, generateSecretKey, nobleSigner,
  parseNote, parseTrust, signNote, toHex, verifyBundle, type ProofBundle,
} from '../../protocol/index.js';
import { entryBundle, gatewayWithDevices, publishEach, reading, type Device, type TestGateway } from './harness.js';

const ORIGIN = 'originproof.local/log'; // the gateway's default origin
type Check = { name: string; status: string; code?: string };
type ServedKey = { key: string; notBefore?: number; notAfter?: number };

let t: TestGateway;
let dev: Device;
let retired: ReturnType<typeof ed25519NoteSigner>;
let retiredKey: string;
let [before, after] = [-1, -1];

const publish = async (seq: number) => {
  const [out] = await publishEach(t, dev, [await reading(dev, seq)]);
  if (typeof out !== 'object') throw new Error(`seq ${seq}: ${String(out)}`);
  return (out as { index: number }).index;
};
const post = async (b: ProofBundle) =>
  (await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle: Buffer.from(encodeProofBundle(b)).toString('base64') } })).json() as { valid: boolean; checks: Check[] };
const served = async () => ((await t.gw.app.inject({ method: 'GET', url: '/v1/trust' })).json() as { checkpointKeys: ServedKey[] });
/** `b` with its checkpoint's text signed again by the retired key alone. */
const signedByRetired = async (b: ProofBundle): Promise<ProofBundle> => ({ ...b, checkpoint: await signNote(parseNote(b.checkpoint).text, [retired]) });

beforeAll(async () => {
  const fx = await gatewayWithDevices(1, { blockMaxMs: 5 });
  t = fx.t;
  dev = fx.devices[0]!;
  before = await publish(1);
  const dataDir = join(t.dir, 'data');
  await t.restart(async () => {
    // rotated while stopped: the log's key retired for a new one, the key file replaced by it
    const keyPath = join(dataDir, CHECKPOINT_KEY_FILE);
    retired = ed25519NoteSigner(ORIGIN, fromHex((JSON.parse(await readFile(keyPath, 'utf8')) as { secretKey: string }).secretKey));
    retiredKey = formatVerifierKey(ORIGIN, retired.publicKey);
    const secret = generateSecretKey(ALG_EDDSA);
    await Ledger.rotateKey({ dir: join(dataDir, 'ledger'), origin: ORIGIN, signer: retired, next: ed25519NoteSigner(ORIGIN, secret) });
    await writeFile(keyPath, JSON.stringify({ alg: 'ed25519', secretKey: toHex(secret), publicKey: toHex(nobleSigner(ALG_EDDSA, secret).publicKey), createdAt: new Date().toISOString() }), { mode: 0o600 });
    // the trust file names the retired key, without a window
    const trustFile = join(t.dir, 'trust.json');
    const trust = JSON.parse(await readFile(trustFile, 'utf8')) as { checkpointKeys?: unknown[] };
    trust.checkpointKeys = [...(trust.checkpointKeys ?? []), { key: retiredKey }];
    await writeFile(trustFile, JSON.stringify(trust));
  });
  // A block dated past the retired key's window (the second after the switch's: the new key's begins in the switch's)
  const switchMs = t.gw.ledger.ledger.retiredKeys[0]!.retiredAtMs;
  await new Promise((r) => setTimeout(r, (Math.floor(switchMs / 1000) + 1) * 1000 + 50 - Date.now()));
  after = await publish(2);
}, 90_000);
afterAll(() => t.stop());

test('GET /v1/trust serves the retired key bounded by the log (notAfter at the switch), the file naming it without one', async () => {
  const keys = (await served()).checkpointKeys.filter((k) => k.key === retiredKey);
  expect(keys).toEqual([{ key: retiredKey, notAfter: Math.floor(t.gw.ledger.ledger.retiredKeys[0]!.retiredAtMs / 1000) + 1 }]);
});

test('POST /v1/verify: a checkpoint of a block after the switch signed by the retired key is CHECKPOINT_INVALID, as offline with GET /v1/trust', async () => {
  const forged = await signedByRetired(await entryBundle(t, after));
  const posted = await post(forged);
  expect(posted.valid).toBe(false); // was true: the file's unbounded entry for the retired key
  expect(posted.checks.find((c) => c.name === 'checkpoint')).toMatchObject({ status: 'fail', code: 'CHECKPOINT_INVALID' });
  const offline = verifyBundle(decodeProofBundle(encodeProofBundle(forged)), parseTrust(await served()));
  expect(offline.checks.find((c) => c.name === 'checkpoint')).toMatchObject({ status: 'fail', code: 'CHECKPOINT_INVALID' });
  // the bundle as the gateway serves it (the new key's checkpoint) is valid
  expect((await post(await entryBundle(t, after))).valid).toBe(true);
});

test('what the retired key signed before the switch still verifies in POST /v1/verify, and so does the early part under the new key', async () => {
  const early = await entryBundle(t, before); // its own block's checkpoint: the retired key's
  expect(parseNote(early.checkpoint).signatures.map((sig) => sig.name)).toEqual([ORIGIN]);
  expect(await signedByRetired(early)).toEqual(early); // signed by the retired key alone (ed25519: the same bytes)
  expect((await post(early)).valid).toBe(true);
  const size = t.gw.ledger.size();
  const later = decodeProofBundle(new Uint8Array((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${before}/bundle?treeSize=${size}` })).rawPayload));
  expect((await post(later)).valid).toBe(true);
});
