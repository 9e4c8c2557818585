/**
 * The KeyObject caches (gateway/crypto/node-verify-factory.ts: the main thread's for connect tokens and registry
 * checks, each verify worker's for readings) hold at most mqttMaxConnections keys: a key is needed while its device
 * is connected. They held 100,000 each (found by review): ~3 kB per P-256 KeyObject, so a registry of 100,000 ES256
 * devices connecting in turns grew each thread by ~300 MB, beyond the gateway's 500 MB.
 */
import * as nodeCrypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALG_ES256, encodeLogEntry, encodeProofBundle, generateSecretKey, nobleSigner, toBase64 } from '../../protocol/index.js';
import { makeNodeVerify } from '../../gateway/crypto/node-verify-factory.js';
import { nodeVerify } from '../../gateway/crypto/node-verifier.js';
import { connectDevice, Pki, post, reading, register, startTestGateway, type Device, type TestGateway } from './harness.js';

describe('KeyObject caches are bounded by mqttMaxConnections', () => {
  let t: TestGateway;
  let devices: Device[];
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { mqttMaxConnections: 2, verifyWorkers: 1 });
    const agency = await pki.agency('psb.example');
    devices = [];
    for (let i = 0; i < 5; i++) devices.push(await pki.device(agency, { alg: ALG_ES256 }));
    await register(t.gw, agency, devices);
  });
  afterAll(() => t.stop());

  test('five ES256 devices connecting in turns leave at most two keys in each cache', async () => {
    for (const d of devices) {
      const c = await connectDevice(t.gw, d);
      await c.publish(await reading(d, 1));
      expect((await c.next()).kind).toBe('receipt');
      await c.end();
    }
    const { main, workers } = t.gw.keysCached();
    expect(workers).toBeGreaterThan(0); // the worker's cache is in use and reported
    expect(workers).toBeLessThanOrEqual(2);
    expect(main).toBeGreaterThan(0);
    expect(main).toBeLessThanOrEqual(2);
  });
});

/**
 * Eviction is least recently used (found by review: it was insertion order, so in a fleet larger than the bound each
 * new key pushed out the oldest one however busy its device, whose key was then imported again and again). node:crypto
 * as given, its key imports counted: a key is imported again only if it was evicted.
 */
/**
 * POST /v1/verify checks a bundle's signatures with the keys of the certificates it carries, whoever made them: its
 * verdicts' cache is bounded too (found by the resource-exhaustion review: they used the process-wide cache of
 * 100,000 keys, two added by each bundle of a made-up agency and device, ~300 MB of ES256 KeyObjects to fill it).
 */
describe('the verdicts cache (POST /v1/verify) is bounded by mqttMaxConnections', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { mqttMaxConnections: 2 });
  });
  afterAll(() => t.stop());

  test('five bundles of made-up ES256 agencies and devices leave at most two keys', async () => {
    const shared = nodeVerify as unknown as { keys(): number }; // the process-wide cache of 100,000 they used
    const sharedBefore = shared.keys();
    for (let i = 0; i < 5; i++) {
      const pki = await Pki.create(nobleSigner(ALG_ES256, generateSecretKey(ALG_ES256)));
      const agency = await pki.agency(`made-up-${i}.example`);
      const device = await pki.device(agency, { alg: ALG_ES256 });
      const entry = encodeLogEntry({ index: 0, type: 1, receivedAtMs: Date.now(), payload: await reading(device, 1), certRef: device.cert.certRef });
      const bundle = encodeProofBundle({
        entry, index: 0, treeSize: 1, inclusionProof: [], checkpoint: 'made up', blockHeader: new Uint8Array([0xa0]),
        certificates: [device.cert.bytes, agency.cert.bytes], revocations: [],
      });
      const res = await post(t.gw, '/v1/verify', { bundle: toBase64(bundle) });
      expect(res.status).toBe(200);
      const verdict = res.body as unknown as { valid: boolean; checks: { name: string; status: string; code?: string }[] };
      expect(verdict.valid).toBe(false);
      // its signature checked out with the made-up device key (imported), its chain did not (no trusted root)
      expect(verdict.checks.find((c) => c.name === 'signature')?.status).toBe('pass');
      expect(verdict.checks.find((c) => c.name === 'chain')?.code).toBe('UNKNOWN_KEY');
    }
    expect(t.gw.keysCached().verdicts).toBeGreaterThan(0);
    expect(t.gw.keysCached().verdicts).toBeLessThanOrEqual(2);
    expect(shared.keys()).toBe(sharedBefore);
  });
});

describe('KeyObject caches evict the least recently used key', () => {
  const countingImports = () => {
    const counted = { imports: 0 };
    const crypto = {
      ...nodeCrypto,
      createPublicKey: ((key: Parameters<typeof nodeCrypto.createPublicKey>[0]) => {
        counted.imports++;
        return nodeCrypto.createPublicKey(key);
      }) as typeof nodeCrypto.createPublicKey,
    };
    return { crypto, counted };
  };
  const signed = async () => {
    const s = nobleSigner(ALG_ES256, generateSecretKey(ALG_ES256));
    const message = new Uint8Array([1, 2, 3]);
    return { publicKey: s.publicKey, message, signature: await s.sign(message) };
  };

  test('by key (the main thread: tokens, registry checks): a key used since its import stays, an older unused one goes', async () => {
    const { crypto, counted } = countingImports();
    const verify = makeNodeVerify(crypto, 2);
    const [a, b, c] = [await signed(), await signed(), await signed()];
    const use = (k: typeof a) => expect(verify(ALG_ES256, k.publicKey, k.message, k.signature)).toBe(true);
    use(a);
    use(b);
    use(a); // a is now the most recently used: b goes when c comes
    use(c);
    expect([counted.imports, verify.keys()]).toEqual([3, 2]);
    use(a); // kept
    expect(counted.imports).toBe(3);
    use(b); // went
    expect(counted.imports).toBe(4);
  });

  test('by slot (the verify workers: readings): a key used since its import stays, an older unused one goes', async () => {
    const { crypto, counted } = countingImports();
    const verify = makeNodeVerify(crypto, 2);
    const [a, b, c] = [await signed(), await signed(), await signed()];
    const use = (k: typeof a, slot: number) => expect(verify(ALG_ES256, k.publicKey, k.message, k.signature, slot)).toBe(true);
    use(a, 0);
    use(b, 1);
    use(a, 0);
    use(c, 2);
    expect([counted.imports, verify.keys()]).toEqual([3, 2]);
    use(a, 0);
    expect(counted.imports).toBe(3);
    use(b, 1);
    expect(counted.imports).toBe(4);
    // A slot given another key (a registry reload's new key objects take new slots, but numbers wrap around) is
    // checked by its bytes, imported again, and is then the most recently used: slot 1 goes next, not slot 0.
    use(c, 0);
    expect(counted.imports).toBe(5);
    use(a, 3);
    expect(counted.imports).toBe(6);
    use(c, 0);
    expect([counted.imports, verify.keys()]).toEqual([6, 2]);
  });
});
