/**
 * The firmware vectors marked `checkedBy: "gateway"` (firmware-specs/vectors/gateway-scenarios.json), each run
 * against a real gateway whose clock is set to the vectors' fixed time, with the vectors' own PKI.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import mqtt from 'mqtt';
import {
  ALG_EDDSA, signReading, createConnectToken, decodeReceipt, decodeRejection, fromHex, nobleSigner, toBase64, toHex, openReading, deviceIdToHex,
  parseVerifierKey, receiptsTopic, rejectionsTopic, readingsTopic, verifyReceipt, verifyConsistency, openCheckpoint, fromBase64, type Receipt,
} from '../../protocol/index.js';
import { OriginProofError } from '../../protocol/errors.js';
import { plainMqttUrl, startGateway, type RunningGateway } from '../../gateway/gateway.js';
import type { Outcome } from '../../gateway/pipeline.js';
import { mountTmpfs } from '../crash/tmpfs.js';

interface Scenario {
  name: string;
  cbor: string;
  secretKey: string;
  valid: boolean;
  expectedError?: string;
  now: number;
  chain: string[];
  rootCertificate: string;
  params: Record<string, string | number>;
}

const file = JSON.parse(readFileSync(new URL('../../firmware-specs/vectors/gateway-scenarios.json', import.meta.url), 'utf8')) as { vectors: Scenario[] };
const scenarios = new Map(file.vectors.map((v) => [v.name, v]));
const any = file.vectors[0]!;
const startMs = Date.now();
const clock = () => any.now * 1000 + (Date.now() - startMs); // the vectors' time, running

async function gatewayFor(dataDir?: string): Promise<{ gw: RunningGateway; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'op-scen-'));
  await writeFile(join(dir, 'trust.json'), JSON.stringify({ roots: [{ certificate: toBase64(fromHex(any.rootCertificate)) }] }));
  const gw = await startGateway({ dataDir: dataDir ?? join(dir, 'data'), host: '127.0.0.1', httpPort: 0, mqttPort: 0, trustFile: join(dir, 'trust.json'), logLevel: 'silent', verifyWorkers: 0 }, { now: clock });
  const [deviceCert, agencyCert] = any.chain.map(fromHex);
  for (const [url, cert] of [['/v1/agencies', agencyCert!], ['/v1/devices', deviceCert!]] as const) {
    const r = await gw.app.inject({ method: 'POST', url, payload: { certificate: toBase64(cert) } });
    if (r.statusCode >= 300) throw new Error(r.body);
  }
  return { gw, dir };
}

/** The last connect token's iat per device: the gateway takes a token only if dated later than the last (SPEC §4). */
const lastIat = new Map<string, number>();

async function connect(gw: RunningGateway, v: Scenario) {
  const signer = nobleSigner(ALG_EDDSA, fromHex(v.secretKey));
  const id = deviceIdToHex(openReading(fromHex(v.cbor)).claims.deviceId);
  const t = Math.max(Math.floor(clock() / 1000), (lastIat.get(id) ?? -Infinity) + 1);
  lastIat.set(id, t);
  const token = await createConnectToken(signer, { aud: 'originproof', iat: t, exp: t + 300 });
  const client = await mqtt.connectAsync(plainMqttUrl(gw), { clientId: id, username: id, password: Buffer.from(token), reconnectPeriod: 0, protocolVersion: 4 });
  const answers: ({ receipt: Receipt } | { code: string; seq: number | null })[] = [];
  const waiters: (() => void)[] = [];
  client.on('message', (topic, payload) => {
    const answer = () => {
      const rj = decodeRejection(new Uint8Array(payload));
      return { code: rj.code, seq: rj.seq };
    };
    answers.push(topic.endsWith('/receipts') ? { receipt: decodeReceipt(new Uint8Array(payload)) } : answer());
    waiters.shift()?.();
  });
  await client.subscribeAsync([receiptsTopic(id), rejectionsTopic(id)], { qos: 1 });
  let read = 0;
  return {
    id,
    client,
    async send(bytes: Uint8Array, topic = readingsTopic(id)) {
      // Not awaiting the PUBACK: a denied publish never gets one (the broker closes the connection).
      client.publish(topic, Buffer.from(bytes), { qos: 1 });
      if (read >= answers.length) await new Promise<void>((r) => waiters.push(r));
      return answers[read++]!;
    },
  };
}

describe('gateway scenarios from the firmware vectors', () => {
  let gw: RunningGateway;
  let dir: string;
  beforeAll(async () => ({ gw, dir } = await gatewayFor()));
  afterAll(async () => {
    await gw.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('every scenario in the file is run here', () => {
    expect([...scenarios.keys()].sort()).toEqual(
      [
        'scenario-checkpoint-invalid', 'scenario-consistency-invalid', 'scenario-inclusion-invalid', 'scenario-replay', 'scenario-replay-lower', 'scenario-resend',
        'scenario-storage-unavailable', 'scenario-topic-mismatch', 'scenario-unavailable', 'scenario-unknown-device',
      ].sort(),
    );
  });

  test('scenario-resend, scenario-replay, scenario-replay-lower, scenario-inclusion-invalid, scenario-checkpoint-invalid', async () => {
    const resend = scenarios.get('scenario-resend')!;
    const c = await connect(gw, resend);
    const first = await c.send(fromHex(resend.cbor));
    const second = await c.send(fromHex(resend.cbor));
    expect('receipt' in first && 'receipt' in second && second.receipt.index === first.receipt.index).toBe(true);

    for (const name of ['scenario-replay', 'scenario-replay-lower']) {
      const v = scenarios.get(name)!;
      expect(toHex(fromHex(String(v.params.after)))).toBe(resend.cbor); // the accepted seq 5 is the resend vector's reading
      const a = await c.send(fromHex(v.cbor));
      expect('code' in a && a.code).toBe(v.expectedError);
    }

    if (!('receipt' in first)) throw new Error('no receipt');
    const key = parseVerifierKey(gw.checkpointVerifierKey);
    expect(verifyReceipt(first.receipt, fromHex(resend.cbor), [key])).toBeGreaterThan(first.receipt.index);
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
        return 'VALID';
      } catch (e) {
        return (e as OriginProofError).code;
      }
    };
    const alteredLeaf = { ...first.receipt, leafHash: Uint8Array.from(first.receipt.leafHash, (b, i) => (i === 0 ? b ^ 1 : b)) };
    expect(codeOf(() => verifyReceipt(alteredLeaf, fromHex(resend.cbor), [key]))).toBe(scenarios.get('scenario-inclusion-invalid')!.expectedError);
    const sigLine = first.receipt.checkpoint.trimEnd().split('\n').pop()!;
    const sig = fromBase64(sigLine.split(' ').pop()!);
    sig[10]! ^= 1;
    const alteredNote = first.receipt.checkpoint.replace(sigLine, sigLine.replace(/\S+$/, toBase64(sig)));
    expect(codeOf(() => verifyReceipt({ ...first.receipt, checkpoint: alteredNote }, fromHex(resend.cbor), [key]))).toBe(scenarios.get('scenario-checkpoint-invalid')!.expectedError);
    c.client.end(true);
  });

  test('scenario-topic-mismatch', async () => {
    const v = scenarios.get('scenario-topic-mismatch')!;
    const c = await connect(gw, v);
    const a = await c.send(fromHex(v.cbor), String(v.params.topic));
    expect('code' in a && a.code).toBe(v.expectedError);
    // SPEC §8: named by no seq (what was published elsewhere is not read), so the device keeps the reading and resends it
    expect('code' in a && a.seq).toBeNull();
    c.client.end(true);
  });

  test('scenario-unknown-device: the device is refused at CONNECT with the code behind CONNACK 5', async () => {
    const v = scenarios.get('scenario-unknown-device')!;
    const id = deviceIdToHex(openReading(fromHex(v.cbor)).claims.deviceId);
    let code = 'VALID';
    try {
      gw.authenticateDevice(id, new Uint8Array([0xa0]));
    } catch (e) {
      code = (e as OriginProofError).code;
    }
    expect(code).toBe(v.expectedError);
  });

  test('scenario-consistency-invalid: a checkpoint of a rewritten log fails the consistency proof', async () => {
    const v = scenarios.get('scenario-consistency-invalid')!;
    const key = parseVerifierKey(gw.checkpointVerifierKey);
    const size = gw.ledger.size();
    const old = openCheckpoint((await gw.app.inject({ method: 'GET', url: '/v1/checkpoints/2' })).body, [key]);
    const proof = (await gw.app.inject({ method: 'GET', url: `/v1/proofs/consistency?from=2&to=${size}` })).json().proof.map(fromBase64);
    const latest = openCheckpoint((await gw.app.inject({ method: 'GET', url: '/v1/checkpoints/latest' })).body, [key]);
    verifyConsistency(2, size, proof, old.root, latest.root); // the real history is consistent
    const rewritten = Uint8Array.from(old.root, (b, i) => (i === 5 ? b ^ 0x10 : b));
    let code = 'VALID';
    try {
      verifyConsistency(2, size, proof, rewritten, latest.root);
    } catch (e) {
      code = (e as OriginProofError).code;
    }
    expect(code).toBe(v.expectedError);
  });

  test('scenario-unavailable: a reading arriving while the gateway shuts down', async () => {
    const v = scenarios.get('scenario-unavailable')!;
    const own = await gatewayFor();
    const closing = own.gw.close();
    const outcome = await own.gw.pipeline.process(deviceIdToHex(openReading(fromHex(v.cbor)).claims.deviceId), fromHex(v.cbor), clock());
    await closing;
    await rm(own.dir, { recursive: true, force: true });
    expect(!outcome.ok && outcome.error.code).toBe(v.expectedError);
  });

  test('scenario-storage-unavailable: a reading arriving while the store cannot be written (a real, full tmpfs)', async () => {
    const v = scenarios.get('scenario-storage-unavailable')!;
    const fs = await mountTmpfs(16);
    let own: { gw: RunningGateway; dir: string } | undefined;
    try {
      own = await gatewayFor(join(fs.dir, 'data'));
      const claims = openReading(fromHex(v.cbor)).claims;
      const id = deviceIdToHex(claims.deviceId);
      const signer = nobleSigner(ALG_EDDSA, fromHex(v.secretKey));
      await fs.fill();
      // Readings of the same device until a block write fails (the last pages LevelDB's log had may still take one).
      let failed: Outcome | undefined;
      for (let seq = 100; seq < 400 && !failed; seq++) {
        const outcome = await own.gw.pipeline.process(id, await signReading(signer, { ...claims, seq }), clock());
        if (!outcome.ok) failed = outcome;
      }
      expect(failed && !failed.ok && failed.error.code).toBe('STORAGE_UNAVAILABLE');
      const outcome = await own.gw.pipeline.process(id, fromHex(v.cbor), clock());
      expect(!outcome.ok && outcome.error.code).toBe(v.expectedError);
    } finally {
      await own?.gw.close();
      await fs.unmount();
      if (own) await rm(own.dir, { recursive: true, force: true });
    }
  });
});
