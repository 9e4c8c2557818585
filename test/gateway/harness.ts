/** Test harness: a real gateway (aedes on an ephemeral loopback port, LevelDB in a temp dir) and a PKI made now. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll } from 'vitest';
import {
  ALG_EDDSA, ALG_ES256, nobleSigner, generateSecretKey, publicKey, keyThumbprint, issueCertificate, decodeCertificate,
  deviceIdFromKey, deviceIdToHex, sha256, utf8ToBytes, toBase64, createConnectToken, signReading, createRevocation,
  decodeReceipt, decodeRejection, receiptsTopic, rejectionsTopic, readingsTopic, decodeProofBundle, parseTrust, toHex, createProofOfPossession, verifyBundle,
  type Alg, type ProofBundle, type TrustMaterial, type Signer, type DecodedCertificate, type ReadingClaims, type Receipt, type Rejection, type RevocationReason,
} from '../../protocol/index.js';
import { plainMqttUrl, startGateway, type GatewayRuntime, type RunningGateway } from '../../gateway/gateway.js';
import { Pipeline, type PipelineOptions } from '../../gateway/pipeline.js';
import type { VerifyPool } from '../../gateway/crypto/verify-pool.js';
import type { ReadingLog } from '../../gateway/reading-log.js';
import { createMetrics } from '../../gateway/metrics.js';

export const FIRMWARE = sha256(utf8ToBytes('firmware image v1.2.3'));
export const nowS = () => Math.floor(Date.now() / 1000);
const DAY = 86_400;

export const kidOf = (s: Signer) => keyThumbprint(publicKey(s.alg, s.publicKey));
export const pubOf = (s: Signer) => publicKey(s.alg, s.publicKey);
/** The proof of possession a device gives agency `agencyId` at onboarding (SPEC §2), for its certificates' claim. */
export const possessionFor = (device: Signer, agencyId: string): Promise<Uint8Array> =>
  createProofOfPossession(device, { agencyId, nonce: new Uint8Array(randomBytes(16)), iat: nowS() });

export interface Party {
  signer: Signer;
  cert: DecodedCertificate;
}

export interface Device extends Party {
  id: string;
}

export class Pki {
  root!: Party;
  agencies = new Map<string, Party>();

  /** `root`: the root's signer (an EdDSA key unless a test brings another). */
  static async create(root: Signer = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA))): Promise<Pki> {
    const p = new Pki();
    const t = nowS();
    const cert = decodeCertificate(
      await issueCertificate(root, kidOf(root), { iss: 'root.example', sub: 'root.example', role: 'root', holderKey: pubOf(root), iat: t - 365 * DAY, nbf: t - 365 * DAY, exp: t + 3650 * DAY }),
    );
    p.root = { signer: root, cert };
    return p;
  }

  /** `signer`: the agency's (an ES256 key signing as @noble/curves does, RFC 6979 deterministic, unless a test brings another). */
  async agency(id: string, window: { nbf?: number; exp?: number } = {}, signer: Signer = nobleSigner(ALG_ES256, generateSecretKey(ALG_ES256))): Promise<Party> {
    const t = nowS();
    const cert = decodeCertificate(
      await issueCertificate(this.root.signer, kidOf(this.root.signer), {
        iss: 'root.example', sub: id, role: 'agency', holderKey: pubOf(signer), iat: t - DAY, nbf: window.nbf ?? t - DAY, exp: window.exp ?? t + 365 * DAY,
      }),
    );
    const party = { signer, cert };
    this.agencies.set(id, party);
    return party;
  }

  async device(agency: Party, opts: { alg?: Alg; types?: string[]; kind?: string; nbf?: number; exp?: number } = {}): Promise<Device> {
    const alg = opts.alg ?? ALG_EDDSA;
    const signer = nobleSigner(alg, generateSecretKey(alg));
    const id = deviceIdToHex(deviceIdFromKey(pubOf(signer)));
    const t = nowS();
    const cert = decodeCertificate(
      await issueCertificate(agency.signer, kidOf(agency.signer), {
        iss: agency.cert.claims.sub, sub: id, role: 'device', holderKey: pubOf(signer), iat: t - DAY, nbf: opts.nbf ?? t - DAY, exp: opts.exp ?? t + 365 * DAY,
        profile: { kind: opts.kind ?? 'temperature-sensor', readingTypes: opts.types ?? ['temperature', 'humidity', 'biometric'], firmware: FIRMWARE },
        proofOfPossession: await possessionFor(signer, agency.cert.claims.sub),
      }),
    );
    return { signer, cert, id };
  }

  trustJson(): string {
    return JSON.stringify({ roots: [{ certificate: toBase64(this.root.cert.bytes) }] });
  }
}

export interface TestGateway {
  gw: RunningGateway;
  dir: string;
  pki: Pki;
  stop(): Promise<void>;
  /** Close the gateway, run `between` (e.g. read its closed store), start it again on the same data. */
  restart(between?: () => Promise<void>): Promise<void>;
}

/** `runtime`: test-only hooks (a wrapped store backend, a verify pool whose answers a test holds). */
export async function startTestGateway(pki: Pki, overrides: Record<string, unknown> = {}, dir?: string, runtime: GatewayRuntime = {}): Promise<TestGateway> {
  const d = dir ?? (await mkdtemp(join(tmpdir(), 'op-gw-')));
  const trustFile = join(d, 'trust.json');
  await writeFile(trustFile, pki.trustJson());
  // httpVerifyMsPerSecond at its most (1000: never reached by one event loop): the verdicts' budget is charged in
  // wall-clock time, which a loaded CI machine stretches, so a file making a few dozen verdicts in a row could be
  // refused RATE_LIMITED (flake audit). The budget's own tests (verify-time-budget*.test.ts) set it, and all but one
  // drive its clock (GatewayRuntime.verifyBudgetClock, stepping-clock.ts).
  const opts = { dataDir: join(d, 'data'), host: '127.0.0.1', httpPort: 0, mqttPort: 0, trustFile, logLevel: 'silent', verifyWorkers: 1, httpVerifyMsPerSecond: 1000, ...overrides };
  let gw: RunningGateway;
  try {
    gw = await startGateway(opts, runtime);
  } catch (err) {
    // A start the test expects to fail (bad config, unusable store) must not leave its temp dir behind.
    if (dir === undefined) await rm(d, { recursive: true, force: true });
    throw err;
  }
  // Dropped once stopped: test files share a worker (vitest.config.ts, isolate: false), and a file's closures keep its
  // TestGateway reachable after the file ends; a stopped gateway's ledger, registry and caches then went with it.
  let current: RunningGateway | undefined = gw;
  const t: TestGateway = {
    get gw(): RunningGateway {
      if (!current) throw new Error('this test gateway was stopped');
      return current;
    },
    set gw(g: RunningGateway) {
      current = g;
    },
    dir: d,
    pki,
    async stop() {
      if (!current) return;
      await current.close();
      current = undefined;
      await rm(d, { recursive: true, force: true });
    },
    async restart(between) {
      await t.gw.close();
      await between?.();
      t.gw = await startGateway(opts, runtime);
    },
  };
  return t;
}

/** What one published reading got: its receipt's certRef (hex) and log index, or the rejection's code. */
export type PublishOutcome = { certRef: string; index: number } | string;

/** Connect `d`, publish `readings` one by one, each after the answer to the one before; then disconnect. */
export async function publishEach(t: TestGateway, d: Device, readings: Uint8Array[]): Promise<PublishOutcome[]> {
  const c = await connectDevice(t.gw, d);
  const out: PublishOutcome[] = [];
  try {
    for (const r of readings) {
      await c.publish(r);
      const a = await c.next();
      out.push(a.kind === 'receipt' ? { certRef: toHex(a.receipt.certRef), index: a.receipt.index } : a.rejection.code);
    }
  } finally {
    await c.end();
  }
  return out;
}

/** The gateway's own trust material (GET /v1/trust: its roots and checkpoint key), as a verifier takes it. */
export async function gatewayTrust(t: TestGateway): Promise<TrustMaterial> {
  return parseTrust((await t.gw.app.inject({ method: 'GET', url: '/v1/trust' })).json());
}

/**
 * A gateway for the describe block it is called in (writes rate-limited at 1,000 a minute; `overrides` for more) and its trust material
 * (GET /v1/trust): started before the block's tests, `set` given both, stopped after them.
 */
export function useTrustedGateway(set: (g: { t: TestGateway; trust: TrustMaterial }) => void, overrides: Record<string, unknown> = {}): void {
  let t: TestGateway | undefined;
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000, ...overrides });
    set({ t, trust: await gatewayTrust(t) });
  });
  afterAll(() => t?.stop());
}

/** Entry `index`'s proof bundle (GET /v1/entries/:index/bundle), decoded; throws unless the gateway serves it. */
export async function entryBundle(t: TestGateway, index: number): Promise<ProofBundle> {
  const res = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` });
  if (res.statusCode !== 200) throw new Error(`GET /v1/entries/${index}/bundle: ${res.statusCode} ${res.body}`);
  return decodeProofBundle(new Uint8Array(res.rawPayload));
}

/**
 * Every entry of the gateway's log checked offline with its own trust material (GET /v1/trust): the log's size and
 * the entries whose bundle is not valid, each with its failed checks' names, codes and messages.
 */
export async function unverifiableEntries(t: TestGateway): Promise<{ size: number; bad: unknown[] }> {
  const trust = await gatewayTrust(t);
  const size = (await t.gw.app.inject({ method: 'GET', url: '/v1/log' })).json().size as number;
  const bad: unknown[] = [];
  for (let i = 0; i < size; i++) {
    const v = verifyBundle(await entryBundle(t, i), trust);
    if (!v.valid) bad.push([i, v.checks.filter((c) => c.status === 'fail').map((c) => [c.name, c.code, c.message])]);
  }
  return { size, bad };
}

/** A test gateway with one registered agency and `count` registered devices: where most suites start. */
/**
 * A gateway with `count` devices of one agency registered. `atOnce`: the devices' registrations are posted together
 * (registerAtOnce), for a gateway whose long block timer would otherwise be waited for once per device. `runtime`:
 * test-only hooks (startTestGateway).
 */
export async function gatewayWithDevices(
  count = 1, overrides: Record<string, unknown> = {}, agencyId = 'psb.example', { atOnce = false, runtime = {} as GatewayRuntime } = {},
): Promise<{ t: TestGateway; agency: Party; devices: Device[] }> {
  const pki = await Pki.create();
  const t = await startTestGateway(pki, overrides, undefined, runtime);
  const agency = await pki.agency(agencyId);
  const devices: Device[] = [];
  for (let i = 0; i < count; i++) devices.push(await pki.device(agency));
  await (atOnce ? registerAtOnce : register)(t.gw, agency, devices);
  return { t, agency, devices };
}

/**
 * `gatewayWithDevices` for a whole suite: registers its beforeAll/afterAll and returns the fixture, filled in once
 * beforeAll has run (read it inside tests; `dev` is the first device).
 */
export function useGatewayWithDevices(count = 1, overrides: Record<string, unknown> = {}, runtime: GatewayRuntime = {}): { t: TestGateway; agency: Party; devices: Device[]; dev: Device } {
  const fx = {} as { t: TestGateway; agency: Party; devices: Device[]; dev: Device };
  beforeAll(async () => {
    Object.assign(fx, await gatewayWithDevices(count, overrides, undefined, { runtime }));
    fx.dev = fx.devices[0]!;
  });
  afterAll(() => fx.t?.stop());
  return fx;
}

export async function post(gw: RunningGateway, url: string, body: unknown) {
  const res = await gw.app.inject({ method: 'POST', url, payload: body as object });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

/**
 * `posting` (registrations), with the pending block sealed every few ms until it is answered: a registration answers
 * once its block is durable, which a suite's long blockMaxMs (set for its readings' blocks) otherwise made a wait of
 * its own per block, e.g. 2 x 10 s of answer-backlog.test.ts's 21 s. The answers are the gateway's, unchanged.
 */
async function sealingWhile<T>(gw: RunningGateway, posting: Promise<T>): Promise<T> {
  let answered = false;
  const settled = posting.finally(() => (answered = true));
  while (!answered) {
    await gw.ledger.flush();
    await Promise.race([settled.catch(() => undefined), new Promise((r) => setTimeout(r, 5))]);
  }
  return settled;
}

export async function register(gw: RunningGateway, agency: Party, devices: Device[]): Promise<void> {
  const a = await sealingWhile(gw, post(gw, '/v1/agencies', { certificate: toBase64(agency.cert.bytes) }));
  if (a.status >= 300) throw new Error(`agency registration failed: ${JSON.stringify(a.body)}`);
  for (const d of devices) {
    const r = await sealingWhile(gw, post(gw, '/v1/devices', { certificate: toBase64(d.cert.bytes) }));
    if (r.status >= 300) throw new Error(`device registration failed: ${JSON.stringify(r.body)}`);
  }
}

/**
 * Register `agency`, then all of `devices` at once: each registration answers once its block is durable, so posted
 * together they share a block or a few (in no set order) where posted in turn each waits for a block of its own.
 */
export async function registerAtOnce(gw: RunningGateway, agency: Party, devices: Device[]): Promise<void> {
  const a = await sealingWhile(gw, post(gw, '/v1/agencies', { certificate: toBase64(agency.cert.bytes) }));
  if (a.status >= 300) throw new Error(`agency registration failed: ${JSON.stringify(a.body)}`);
  const answers = await sealingWhile(gw, Promise.all(devices.map((d) => post(gw, '/v1/devices', { certificate: toBase64(d.cert.bytes) }))));
  for (const r of answers) if (r.status >= 300) throw new Error(`device registration failed: ${JSON.stringify(r.body)}`);
}

export async function revoke(gw: RunningGateway, issuer: Party, cert: DecodedCertificate, revokedFrom: number, reason: RevocationReason = 'keyCompromise') {
  const bytes = await createRevocation(issuer.signer, cert, { reason, revokedFrom, iat: nowS() });
  return post(gw, '/v1/revocations', { revocation: toBase64(bytes) });
}

export type Answer = { kind: 'receipt'; receipt: Receipt } | { kind: 'rejection'; rejection: Rejection };

export interface ConnectedDevice {
  client: MqttClient;
  answers: Answer[];
  next(): Promise<Answer>;
  publish(bytes: Uint8Array, topic?: string): Promise<void>;
  end(): Promise<void>;
}

/** Connect a device with a fresh connect token and subscribe to its answers. */
/** `url`: another of the gateway's listeners (default its plain MQTT); `ca`: PEM to check a TLS listener's certificate. */
const lastTokenIat = new WeakMap<object, number>();

/**
 * A connect token the gateway takes: each must be dated later than the device's last accepted one (SPEC §4), so a
 * device's next one is dated at least a second after its last (as device-sim does).
 */
export async function freshToken(d: Pick<Device, 'signer'>, lifetime = 300, aud = 'originproof'): Promise<Uint8Array> {
  const iat = Math.max(nowS(), (lastTokenIat.get(d.signer) ?? -Infinity) + 1);
  lastTokenIat.set(d.signer, iat);
  return createConnectToken(d.signer, { aud, iat, exp: iat + lifetime });
}

export async function connectDevice(gw: RunningGateway, d: Device, opts: { token?: Uint8Array; clientId?: string; username?: string; url?: string; ca?: string } = {}): Promise<ConnectedDevice> {
  const token = opts.token ?? (await freshToken(d));
  const client = await mqtt.connectAsync(opts.url ?? plainMqttUrl(gw), {
    ...(opts.ca ? { ca: opts.ca } : {}),
    clientId: opts.clientId ?? d.id,
    username: opts.username ?? d.id,
    password: Buffer.from(token),
    reconnectPeriod: 0,
    connectTimeout: 5000,
    protocolVersion: 4,
  });
  const answers: Answer[] = [];
  const waiters: ((a: Answer) => void)[] = [];
  let read = 0;
  client.on('message', (topic, payload) => {
    const bytes = new Uint8Array(payload);
    const a: Answer = topic.endsWith('/receipts') ? { kind: 'receipt', receipt: decodeReceipt(bytes) } : { kind: 'rejection', rejection: decodeRejection(bytes) };
    answers.push(a);
    const w = waiters.shift();
    if (w) {
      read++;
      w(a);
    }
  });
  await client.subscribeAsync([receiptsTopic(d.id), rejectionsTopic(d.id)], { qos: 1 });
  return {
    client,
    answers,
    next() {
      if (read < answers.length) return Promise.resolve(answers[read++]!);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer within 10 s')), 10_000);
        waiters.push((a) => {
          clearTimeout(timer);
          resolve(a);
        });
      });
    },
    async publish(bytes, topic) {
      await client.publishAsync(topic ?? readingsTopic(d.id), Buffer.from(bytes), { qos: 1 });
    },
    async end() {
      await client.endAsync(true);
    },
  };
}

/**
 * The CONNACK return code a bare mqtt.js CONNECT gets (MQTT 3.1.1 §3.2.2.3): 0 when let in (the client then leaves),
 * the refusal's code otherwise, -1 for a failure without one.
 */
export async function connackCode(url: string, clientId: string, password?: Uint8Array, username = clientId): Promise<number> {
  try {
    const c = await mqtt.connectAsync(url, { clientId, username, ...(password ? { password: Buffer.from(password) } : {}), reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4 });
    await c.endAsync(true);
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

/** originproof_mqtt_connects_refused_total for `code` (CONNECTs refused with that error code), from /metrics. */
export async function connectsRefused(gw: RunningGateway, code: string): Promise<number> {
  const text = (await gw.app.inject({ method: 'GET', url: '/metrics' })).body;
  return Number(new RegExp(`^originproof_mqtt_connects_refused_total\\{code="${code}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

export function reading(d: Device, seq: number, over: Partial<ReadingClaims> = {}): Promise<Uint8Array> {
  const claims: ReadingClaims = {
    deviceId: deviceIdFromKey(pubOf(d.signer)),
    seq,
    iat: nowS(),
    firmware: FIRMWARE,
    body: { kind: 'sensor', type: 'temperature', value: 215 + seq, scale: -1, unit: 'Cel' },
    ...over,
  };
  return signReading(d.signer, claims);
}

/** A certificate for `holder`'s key issued by `issuer` at `iat` (the harness issues at now - 1 day). */
export async function certify(issuer: Party, holder: Party, role: 'agency' | 'device', iat: number, sub = holder.cert.claims.sub): Promise<DecodedCertificate> {
  return decodeCertificate(
    await issueCertificate(issuer.signer, kidOf(issuer.signer), {
      iss: issuer.cert.claims.sub, sub, role, holderKey: pubOf(holder.signer), iat, nbf: iat - 60, exp: iat + 365 * DAY,
      ...(role === 'device'
        ? { profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE }, proofOfPossession: await possessionFor(holder.signer, issuer.cert.claims.sub) }
        : {}),
    }),
  );
}

export const postCert = (t: TestGateway, kind: 'agencies' | 'devices', c: DecodedCertificate | Uint8Array) =>
  post(t.gw, `/v1/${kind}`, { certificate: toBase64(c instanceof Uint8Array ? c : c.bytes) });
export const postRevocation = async (t: TestGateway, issuer: Party, cert: DecodedCertificate, revokedFrom: number, reason: RevocationReason) =>
  post(t.gw, '/v1/revocations', { revocation: toBase64(await createRevocation(issuer.signer, cert, { reason, revokedFrom, iat: nowS() })) });

/**
 * A Pipeline over the test gateway's registry and `log` (its ledger, or one a test wraps), driven by the test through
 * process() rather than by the broker, with the tests' limits (`opts` overrides them); its answers go nowhere.
 */
export function testPipeline(t: TestGateway, pool: VerifyPool, opts: Partial<PipelineOptions> = {}, log: ReadingLog = t.gw.ledger): Pipeline {
  return new Pipeline(t.gw.registry, log, pool, createMetrics(false), { maxReadingBytes: 4096, clockSkewSeconds: 300, maxReadingAgeSeconds: 86_400, queueHighWater: 100, ...opts }, () => {});
}
