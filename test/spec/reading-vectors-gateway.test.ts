/**
 * firmware-specs/vectors/readings.json against a real gateway: each reading vector published over MQTT by its device,
 * to a gateway holding the vectors' PKI and running on the vectors' clock, gets what the vector says (a receipt for a
 * valid one, a rejection with its expectedError otherwise). SPEC says the vectors win where they and its text
 * disagree, so a vector the gateway answers otherwise misleads every firmware built from them (found: the CLOCK_SKEW
 * vector was a reading 301 s old, which the gateway takes: SPEC §6 allows 7 days of age and 300 s ahead).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Decoder, Tag } from 'cbor-x';
import mqtt from 'mqtt';
import { afterEach, describe, expect, test } from 'vitest';
import {
  ALG_EDDSA, ALG_ES256, createConnectToken, decodeReceipt, decodeRejection, deviceIdToHex, fromHex, nobleSigner, openReading, parseVerifierKey,
  readingsTopic, receiptsTopic, rejectionsTopic, toBase64, verifyReceipt,
} from '../../protocol/index.js';
import { plainMqttUrl, startGateway, type RunningGateway } from '../../gateway/gateway.js';

interface ReadingVector {
  name: string;
  alg: 'EdDSA' | 'ES256';
  secretKey: string;
  cbor: string;
  valid: boolean;
  expectedError?: string;
  now: number;
  chain: string[];
  rootCertificate: string;
  revocations?: string[];
}

const vectors = (JSON.parse(readFileSync(new URL('../../firmware-specs/vectors/readings.json', import.meta.url), 'utf8')) as { vectors: ReadingVector[] }).vectors;
const byName = new Map(vectors.map((v) => [v.name, v]));
const NOW = vectors[0]!.now;
const cborX = new Decoder({ mapsAsObjects: false, useRecords: false });
const decode = (b: Uint8Array): unknown => cborX.decode(b);

type Answer = { receipt: ReturnType<typeof decodeReceipt> } | { code: string; seq: number | null };

/** A gateway with the vectors' root trusted and their agency and devices registered, its clock held where `setClock` puts it. */
async function vectorGateway(): Promise<{ gw: RunningGateway; dir: string; setClock: (s: number) => void }> {
  // Held at the vector's `now`: the clock vectors lie one second past a limit, which a running clock would cross
  let base = NOW * 1000;
  const clock = () => base;
  const dir = await mkdtemp(join(tmpdir(), 'op-vec-'));
  await writeFile(join(dir, 'trust.json'), JSON.stringify({ roots: [{ certificate: toBase64(fromHex(vectors[0]!.rootCertificate)) }] }));
  const gw = await startGateway({ dataDir: join(dir, 'data'), host: '127.0.0.1', httpPort: 0, mqttPort: 0, trustFile: join(dir, 'trust.json'), logLevel: 'silent', verifyWorkers: 0 }, { now: clock });
  const agency = vectors[0]!.chain[1]!;
  const devices = [...new Set(vectors.map((v) => v.chain[0]!))];
  for (const [url, cert] of [['/v1/agencies', agency], ...devices.map((d) => ['/v1/devices', d])] as const) {
    const r = await gw.app.inject({ method: 'POST', url, payload: { certificate: toBase64(fromHex(cert)) } });
    if (r.statusCode >= 300) throw new Error(r.body);
  }
  return {
    gw,
    dir,
    setClock: (s) => {
      base = s * 1000;
    },
  };
}

/** The vector's device, connected as SPEC §4 says (a fresh connect token, both answer topics subscribed). */
async function connect(gw: RunningGateway, v: ReadingVector, nowS: number) {
  const signer = nobleSigner(v.alg === 'EdDSA' ? ALG_EDDSA : ALG_ES256, fromHex(v.secretKey));
  const id = deviceIdToHex(openReading(fromHex(byName.get(`reading-sensor-${v.alg}`)!.cbor)).claims.deviceId);
  const token = await createConnectToken(signer, { aud: 'originproof', iat: nowS, exp: nowS + 300 });
  const client = await mqtt.connectAsync(plainMqttUrl(gw), { clientId: id, username: id, password: Buffer.from(token), reconnectPeriod: 0, protocolVersion: 4, clean: false });
  const answers: Answer[] = [];
  const waiters: (() => void)[] = [];
  client.on('message', (topic, payload) => {
    const p = new Uint8Array(payload);
    answers.push(topic.endsWith('/receipts') ? { receipt: decodeReceipt(p) } : (({ code, seq }) => ({ code, seq }))(decodeRejection(p)));
    waiters.shift()?.();
  });
  await client.subscribeAsync([receiptsTopic(id), rejectionsTopic(id)], { qos: 1 });
  let read = 0;
  return {
    client,
    async send(bytes: Uint8Array): Promise<Answer> {
      await client.publishAsync(readingsTopic(id), Buffer.from(bytes), { qos: 1 });
      if (read >= answers.length) await new Promise<void>((r) => waiters.push(r));
      return answers[read++]!;
    },
  };
}

/** The seq claim as a device reads it back from the bytes it sent (cbor-x, no checks), or null. */
function payloadSeq(v: ReadingVector): number | null {
  const env = decode(fromHex(v.cbor)) as unknown;
  const arr = env instanceof Tag ? (env.value as unknown[]) : (env as unknown[]);
  const claims = decode(arr[2] as Uint8Array) as unknown;
  const seq = claims instanceof Map ? claims.get(-65539) : undefined;
  return typeof seq === 'number' ? seq : null;
}

/** What the gateway answered, in the vector's terms: VALID for a receipt that checks (SPEC §7), else the code. */
function verdict(gw: RunningGateway, v: ReadingVector, a: Answer): string {
  if ('code' in a) {
    // SPEC §8: the rejection names the reading's seq whenever its payload decodes as a map holding one
    expect([v.name, a.seq]).toEqual([v.name, payloadSeq(v)]);
    return a.code;
  }
  expect(a.receipt.seq).toBe(openReading(fromHex(v.cbor)).claims.seq);
  verifyReceipt(a.receipt, fromHex(v.cbor), [parseVerifierKey(gw.checkpointVerifierKey)]);
  return 'VALID';
}

const expected = (v: ReadingVector) => (v.valid ? 'VALID' : v.expectedError);
const open: { gw: RunningGateway; dir: string }[] = [];
afterEach(async () => {
  for (const g of open.splice(0)) {
    await g.gw.close();
    await rm(g.dir, { recursive: true, force: true });
  }
});

describe('the reading vectors, published to a real gateway on the vectors clock', () => {
  // Without a revocation registered. reading-cert-expired is sent last, once the clock reached its `now` (the device
  // certificate's exp; its connection was opened before). reading-cert-not-yet-valid is sent at NOW, not at its `now`
  // (nbf - 1, when the device could not connect): dated before its certificate, it is CERT_NOT_YET_VALID however old
  // (SPEC §8's order). Invalid ones first: they do not move the device's seq; then the valid ones, seqs increasing.
  const first = [
    ...vectors.filter((v) => !v.valid && !v.revocations && v.name !== 'reading-cert-expired').map((v) => v.name),
    'reading-sensor-EdDSA', 'reading-biometric-EdDSA', 'reading-kept-offline', 'reading-sensor-ES256', 'reading-biometric-ES256',
    'reading-cert-expired',
  ];
  // With the vectors' revocation registered; the high-S twin of reading-sensor-ES256 (its seq taken above) here.
  const second = ['reading-after-revocation', 'reading-before-revocation', 'reading-sensor-ES256-high-s'];

  test('every reading vector is published below', () => {
    expect([...first, ...second].sort()).toEqual(vectors.map((v) => v.name).sort());
  });

  test('without a revocation: each gets its vector verdict', async () => {
    const g = await vectorGateway();
    open.push(g);
    const devs = { EdDSA: await connect(g.gw, byName.get('reading-sensor-EdDSA')!, NOW), ES256: await connect(g.gw, byName.get('reading-sensor-ES256')!, NOW) };
    const got: Record<string, string | undefined> = {};
    const want: Record<string, string | undefined> = {};
    for (const name of first) {
      const v = byName.get(name)!;
      if (v.now > NOW) g.setClock(v.now);
      got[name] = verdict(g.gw, v, await devs[v.alg].send(fromHex(v.cbor)));
      want[name] = expected(v);
    }
    expect(got).toEqual(want);
    for (const d of Object.values(devs)) d.client.end(true);
  });

  test('with the revocation registered: each gets its vector verdict', async () => {
    const g = await vectorGateway();
    open.push(g);
    // Connected before: a revoked device's CONNECT gets CONNACK 5, while its open connection still takes readings (SPEC §8)
    const devs = { EdDSA: await connect(g.gw, byName.get('reading-sensor-EdDSA')!, NOW), ES256: await connect(g.gw, byName.get('reading-sensor-ES256')!, NOW) };
    for (const r of byName.get('reading-after-revocation')!.revocations!) {
      const res = await g.gw.app.inject({ method: 'POST', url: '/v1/revocations', payload: { revocation: toBase64(fromHex(r)) } });
      expect(res.statusCode, res.body).toBeLessThan(300);
    }
    const got: Record<string, string | undefined> = {};
    const want: Record<string, string | undefined> = {};
    for (const name of second) {
      const v = byName.get(name)!;
      got[name] = verdict(g.gw, v, await devs[v.alg].send(fromHex(v.cbor)));
      want[name] = expected(v);
    }
    expect(got).toEqual(want);
    for (const d of Object.values(devs)) d.client.end(true);
  });
});
