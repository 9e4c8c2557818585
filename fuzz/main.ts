/**
 * `npm run fuzz`: the long run of the fuzzers the test suite runs briefly, against a real gateway started as
 * `npm start` starts it (fuzz/target.ts). Three phases: envelope mutants through the pipeline's checks, envelope
 * mutants published over MQTT by the registered device, hostile HTTP requests on every route. Prints counts per
 * rejection code (and per mutation kind, per HTTP status); exits 1 on any finding: a crash or internal error, an
 * accepted mutant, a rejection without a known code or that a device cannot decode, a missing answer, a 5xx.
 */
import { Command } from 'commander';
import fc from 'fast-check';
import mqtt from 'mqtt';
import { bytesEqual } from '../protocol/bytes.js';
import { createConnectToken } from '../protocol/connect-token.js';
import { decodeRejection } from '../protocol/receipt.js';
import { readingsTopic, receiptsTopic, rejectionsTopic } from '../protocol/topics.js';
import { routesOf } from '../gateway/http/app.js';
import { plainMqttUrl } from '../gateway/gateway.js';
import { envelopeMutant, familyOf } from './envelope-mutations.js';
import { anyRequest, probeHttp } from './http-requests.js';
import { judgeOutcome, Tally } from './oracle.js';
import { startFuzzTarget, type FuzzTarget } from './target.js';

interface Options {
  cases: string;
  mqtt: string;
  http: string;
  seed?: string;
  maxReadingBytes: string;
}

const say = (line = '') => process.stdout.write(`${line}\n`);
const indent = (lines: string[]) => lines.map((l) => `  ${l}`).join('\n');
const mb = () => `${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MB heap, ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB RSS`;

async function envelopesThroughPipeline(t: FuzzTarget, cases: number, seed: number, maxBytes: number): Promise<boolean> {
  const codes = new Tally();
  const kinds = new Tally();
  const t0 = performance.now();
  const mutants = envelopeMutant(t.validReading, { sign: (m) => t.device.sign(m), maxBytes, ceiling: 4 * maxBytes });
  let ok = true;
  try {
    await fc.assert(
      fc.asyncProperty(mutants, async (m) => {
        const j = judgeOutcome(await t.gw.pipeline.process(t.deviceId, m.bytes, Date.now()), m.bytes, t.validReading);
        if (!j.ok) throw new Error(`${m.kind}: ${j.problem}`);
        codes.add(j.code);
        kinds.add(familyOf(m.kind) + (m.resigned ? ' (re-signed)' : ''));
        if (codes.total % 20_000 === 0) process.stderr.write(`  ... ${codes.total} / ${cases}\n`);
      }),
      { numRuns: cases, seed },
    );
  } catch (err) {
    ok = false;
    say(`FINDING (envelope through the pipeline):\n${(err as Error).message}`);
  }
  say(`envelopes through the pipeline checks: ${codes.total} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${mb()}`);
  say(`  rejection codes:\n${indent(codes.lines())}`);
  say(`  mutation kinds:\n${indent(kinds.lines())}`);
  return ok;
}

async function envelopesOverMqtt(t: FuzzTarget, cases: number, seed: number, maxBytes: number): Promise<boolean> {
  const batch = fc.sample(envelopeMutant(t.validReading, { sign: (m) => t.device.sign(m), maxBytes, ceiling: 4 * maxBytes }), { numRuns: cases, seed }).filter((m) => !bytesEqual(m.bytes, t.validReading));
  const now = Math.floor(Date.now() / 1000);
  const token = await createConnectToken(t.device, { aud: 'originproof', iat: now, exp: now + 600 });
  const client = await mqtt.connectAsync(plainMqttUrl(t.gw), { clientId: t.deviceId, username: t.deviceId, password: Buffer.from(token), reconnectPeriod: 0, protocolVersion: 4 });
  const codes = new Tally();
  const problems: string[] = [];
  client.on('message', (topic, payload) => {
    if (topic.endsWith('/receipts')) return problems.push('a receipt for a mutant');
    try {
      codes.add(decodeRejection(new Uint8Array(payload)).code);
    } catch (err) {
      problems.push(`undecodable rejection: ${(err as Error).message}`);
    }
  });
  await client.subscribeAsync([receiptsTopic(t.deviceId), rejectionsTopic(t.deviceId)], { qos: 1 });
  const sizeBefore = t.gw.ledger.size();
  const t0 = performance.now();
  for (let i = 0; i < batch.length; i += 200) {
    await Promise.all(batch.slice(i, i + 200).map((m) => client.publishAsync(readingsTopic(t.deviceId), Buffer.from(m.bytes), { qos: 1 })));
  }
  const deadline = Date.now() + 60_000;
  while (codes.total + problems.length < batch.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 200));
  await client.endAsync();
  if (codes.total + problems.length !== batch.length) problems.push(`${batch.length} published, ${codes.total + problems.length} answered`);
  if (t.gw.ledger.size() !== sizeBefore) problems.push(`the log grew from ${sizeBefore} to ${t.gw.ledger.size()}`);
  say(`envelopes over MQTT: ${batch.length} published, ${codes.total} rejections in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${mb()}`);
  say(`  rejection codes:\n${indent(codes.lines())}`);
  for (const p of problems.slice(0, 20)) say(`FINDING (MQTT): ${p}`);
  return problems.length === 0;
}

async function httpRequests(t: FuzzTarget, cases: number, seed: number): Promise<boolean> {
  const routes = routesOf(t.gw.app);
  const statuses = new Tally();
  const t0 = performance.now();
  const ctx = {
    known: { deviceId: [t.deviceId], agencyId: ['fuzz.example'], index: ['0', '1', '2'], treeSize: ['1', '2'], height: ['0'], query: ['0', '1', String(Date.now()), 'json', 'cbor'] },
    signed: {
      certificate: { bytes: t.spareCertificate, sign: (m: Uint8Array) => t.agency.sign(m) },
      revocation: { bytes: t.spareRevocation, sign: (m: Uint8Array) => t.agency.sign(m) },
      envelope: { bytes: t.validReading, sign: (m: Uint8Array) => t.device.sign(m) },
    },
    bodyLimit: 1_048_576,
  };
  let ok = true;
  try {
    await fc.assert(
      fc.asyncProperty(anyRequest(routes, ctx), async (req) => {
        const j = await probeHttp(t.gw.app, req);
        if (!j.ok) throw new Error(j.problem);
        statuses.add(j.code);
      }),
      { numRuns: cases, seed },
    );
  } catch (err) {
    ok = false;
    say(`FINDING (HTTP):\n${(err as Error).message}`);
  }
  const health = await t.gw.app.inject({ method: 'GET', url: '/healthz' });
  if (health.statusCode !== 200) {
    ok = false;
    say(`FINDING (HTTP): /healthz answers ${health.statusCode} after the run`);
  }
  say(`HTTP: ${statuses.total} requests over ${routes.length} routes in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${mb()}`);
  say(`  statuses:\n${indent(statuses.lines())}`);
  return ok;
}

async function main(): Promise<number> {
  const program = new Command()
    .name('fuzz')
    .description('Fuzz a real OriginProof gateway: envelope mutants (pipeline checks, MQTT) and hostile HTTP requests')
    .option('--cases <n>', 'envelope mutants through the pipeline checks', '200000')
    .option('--mqtt <n>', 'envelope mutants published over MQTT by the registered device', '5000')
    .option('--http <n>', 'hostile HTTP requests over every route', '20000')
    .option('--seed <n>', 'fast-check seed (default: random; printed so a finding can be replayed)')
    .option('--max-reading-bytes <n>', 'the gateway reading size limit', '1024')
    .parse();
  const o = program.opts<Options>();
  const seed = o.seed !== undefined ? Number(o.seed) : Math.floor(Math.random() * 2 ** 31);
  const maxBytes = Number(o.maxReadingBytes);
  say(`OriginProof fuzz: seed ${seed} (replay with --seed ${seed})`);
  const t = await startFuzzTarget({ maxReadingBytes: maxBytes });
  const results: boolean[] = [];
  try {
    say(`gateway up: ${mb()}`);
    if (Number(o.cases) > 0) results.push(await envelopesThroughPipeline(t, Number(o.cases), seed, maxBytes));
    if (Number(o.mqtt) > 0) results.push(await envelopesOverMqtt(t, Number(o.mqtt), seed + 1, maxBytes));
    if (Number(o.http) > 0) results.push(await httpRequests(t, Number(o.http), seed + 2));
  } finally {
    await t.stop();
  }
  const ok = results.every(Boolean);
  say(ok ? 'OK: every case was rejected with a code, answered, or served; no finding' : 'FAILED: see FINDING above');
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fuzz: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);
