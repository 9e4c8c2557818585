/**
 * POST /v1/verify against a log with N revocations: the event-loop time of one verdict on a reading's bundle, which
 * the route checks with the log's whole revocation list (`verify --revocation-log`). The gateway runs in this process
 * (app.inject: no sockets), with its own registry and LevelDB ledger; N devices are registered and revoked through the
 * HTTP API (one in ten for keyCompromise, whose list entries carry the certificate and its agency's), and one device
 * that is not revoked has a reading logged through the pipeline. Each verdict is timed alone (wall clock of the
 * inject, and the process's CPU time: the same here, as nothing else runs), after a warm-up; medians reported, for
 * verdicts against one list and checkpoint, with a new block (a new latest checkpoint) before each, and with a
 * revocation logged before each (the list changed).
 * Not part of `npm run bench` (building 3,000 revocations takes a while): docs/PERFORMANCE.md has its figures.
 *
 *   node dist/bench/verify-route.js [--revocations 0,300,3000] [--verdicts 40]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ALG_EDDSA, createProofOfPossession, createRevocation, decodeCertificate, deviceIdFromKey, deviceIdToHex, generateSecretKey,
  issueCertificate, keyThumbprint, publicKey, toBase64, type DecodedCertificate, type Signer,
} from '../protocol/index.js';
import { startGateway, type RunningGateway } from '../gateway/gateway.js';
import { benchReading, benchRoot, FIRMWARE } from './fleet.js';
import { nodeSigner } from './node-signer.js';
import { mark } from './gateway-under-test.js';
import { quantile } from './stats.js';
import { standaloneArgs } from './standalone-args.js';

export interface VerifyRouteResult {
  revocations: number;
  verdicts: number;
  /** per verdict, medians and p90 over the timed verdicts (ms) */
  wallMs: number;
  wallP90Ms: number;
  cpuMs: number;
  /** verdicts a second the default httpVerifyMsPerSecond (250) admits at that cost */
  perSecondAtDefaultBudget: number;
  /** the same with a new block (latest checkpoint) before each verdict */
  newCheckpoint: { wallMs: number; wallP90Ms: number; cpuMs: number };
  /** the same with a revocation logged (and its block) before each verdict: the list changed */
  afterRevocation: { wallMs: number; wallP90Ms: number; cpuMs: number; verdicts: number };
}

const kid = (s: Signer) => keyThumbprint(publicKey(s.alg, s.publicKey));

export async function runVerifyRouteBench(opts: { revocations: number; verdicts: number; log?: (l: string) => void }): Promise<VerifyRouteResult> {
  const log = opts.log ?? ((l: string) => process.stdout.write(l + '\n'));
  const dir = await mkdtemp(join(tmpdir(), 'op-bench-verify-'));
  let gw: RunningGateway | null = null;
  try {
    const root = await benchRoot(dir);
    gw = await startGateway({
      dataDir: join(dir, 'data'), host: '127.0.0.1', httpPort: 0, mqttPort: 0, trustFile: join(dir, 'trust.json'), logLevel: 'warn',
      verifyWorkers: 1, writeRateLimit: 1_000_000, httpVerifyMsPerSecond: 1000,
    });
    const app = gw.app;
    const post = async (url: string, payload: object) => {
      const r = await app.inject({ method: 'POST', url, payload });
      if (r.statusCode >= 300) throw new Error(`${url}: ${r.statusCode} ${r.body}`);
      return r;
    };
    const t = Math.floor(Date.now() / 1000);
    const agencyId = 'agency-verify.bench';
    const agency = nodeSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const agencyCert = await issueCertificate(root, kid(root), { iss: 'root.bench', sub: agencyId, role: 'agency', holderKey: publicKey(agency.alg, agency.publicKey), iat: t, nbf: t - 60, exp: t + 86_400 });
    await post('/v1/agencies', { certificate: toBase64(agencyCert) });
    const device = async (): Promise<{ signer: Signer; cert: DecodedCertificate }> => {
      const signer = nodeSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
      const id = deviceIdToHex(deviceIdFromKey(publicKey(signer.alg, signer.publicKey)));
      const cert = decodeCertificate(
        await issueCertificate(agency, kid(agency), {
          iss: agencyId, sub: id, role: 'device', holderKey: publicKey(signer.alg, signer.publicKey), iat: t, nbf: t - 60, exp: t + 86_400,
          profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE },
          proofOfPossession: await createProofOfPossession(signer, { agencyId, nonce: new Uint8Array(randomBytes(16)), iat: t }),
        }),
      );
      return { signer, cert };
    };
    const setup0 = performance.now();
    const revoked = await Promise.all(Array.from({ length: opts.revocations }, () => device()));
    const subject = await device();
    for (let i = 0; i < revoked.length; i += 200) await Promise.all(revoked.slice(i, i + 200).map((d) => post('/v1/devices', { certificate: toBase64(d.cert.bytes) })));
    await post('/v1/devices', { certificate: toBase64(subject.cert.bytes) });
    for (let i = 0; i < revoked.length; i += 200) {
      await Promise.all(
        revoked.slice(i, i + 200).map(async (d, j) => {
          const reason = (i + j) % 10 === 0 ? 'keyCompromise' : 'decommissioned';
          await post('/v1/revocations', { revocation: toBase64(await createRevocation(agency, d.cert, { reason, revokedFrom: t - 30, iat: t })) });
        }),
      );
    }
    // The subject's reading, logged through the gateway's own pipeline (as a device's MQTT PUBLISH hands it over).
    const deviceId = deviceIdFromKey(publicKey(subject.signer.alg, subject.signer.publicKey));
    await gw.pipeline.accept(subject.cert.claims.sub, await benchReading(subject.signer, deviceId, 1, t));
    let stored: { index: number } | undefined;
    while (!(stored = await gw.ledger.findBySeq(subject.cert.claims.sub, 1))) await new Promise((r) => setTimeout(r, 10));
    // The list below the latest checkpoint must hold every revocation: wait for a block past the reading.
    while ((await gw.ledger.ledger.revocationListing()).treeSize <= stored.index) await new Promise((r) => setTimeout(r, 10));
    const listing = await gw.ledger.ledger.revocationListing();
    if (listing.revocations.length !== opts.revocations) throw new Error(`the list holds ${listing.revocations.length} revocations, not ${opts.revocations}`);
    const bundleRes = await app.inject({ method: 'GET', url: `/v1/entries/${stored.index}/bundle` });
    const bundle = toBase64(new Uint8Array(bundleRes.rawPayload));
    log(`verify route, ${opts.revocations} revocations: set up in ${Math.round(performance.now() - setup0)} ms`);

    const verdict = async () => {
      for (;;) {
        const c0 = process.cpuUsage();
        const w0 = performance.now();
        const r = await app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle } });
        const wall = performance.now() - w0;
        const c = process.cpuUsage(c0);
        if (r.statusCode === 429) {
          await new Promise((res) => setTimeout(res, 1000)); // the budget (1,000 ms/s here) is spent: not timed
          continue;
        }
        if (r.statusCode !== 200 || r.json().valid !== true) throw new Error(`POST /v1/verify: ${r.statusCode} ${r.body}`);
        return { wall, cpu: (c.user + c.system) / 1000 };
      }
    };
    for (let i = 0; i < 5; i++) await verdict(); // warm-up
    const label = `verify route, ${opts.revocations} revocations`;
    const round = (x: number) => Math.round(x * 100) / 100;
    const summary = (samples: { wall: number; cpu: number }[]) => ({
      wallMs: round(quantile(samples.map((s) => s.wall))), wallP90Ms: round(quantile(samples.map((s) => s.wall), 0.9)), cpuMs: round(quantile(samples.map((s) => s.cpu))),
    });
    // 1. The same list and checkpoint for every verdict.
    mark(label); // OP_BENCH_MARKS=1: on the clock of a --cpu-prof profile
    const same: { wall: number; cpu: number }[] = [];
    for (let i = 0; i < opts.verdicts; i++) same.push(await verdict());
    mark(`${label} end`);
    // 2. A new block (a new latest checkpoint, the list unchanged) before each verdict, as on a gateway taking readings.
    let seq = 1;
    const nextBlock = async () => {
      const size = (await gw!.ledger.ledger.revocationListing()).treeSize;
      await gw!.pipeline.accept(subject.cert.claims.sub, await benchReading(subject.signer, deviceId, ++seq, Math.floor(Date.now() / 1000)));
      while ((await gw!.ledger.ledger.revocationListing()).treeSize <= size) await new Promise((r) => setTimeout(r, 5));
    };
    const newBlock: { wall: number; cpu: number }[] = [];
    for (let i = 0; i < opts.verdicts; i++) {
      await nextBlock();
      newBlock.push(await verdict());
    }
    // 3. A revocation logged before each verdict (the list changed): the first verdict after it pays for the change.
    const spare = await Promise.all(Array.from({ length: Math.min(10, opts.verdicts) }, () => device()));
    for (const d of spare) await post('/v1/devices', { certificate: toBase64(d.cert.bytes) });
    const added: { wall: number; cpu: number }[] = [];
    for (const d of spare) {
      await post('/v1/revocations', { revocation: toBase64(await createRevocation(agency, d.cert, { reason: 'decommissioned', revokedFrom: t - 30, iat: Math.floor(Date.now() / 1000) })) });
      await nextBlock();
      added.push(await verdict());
    }
    const result: VerifyRouteResult = {
      revocations: opts.revocations, verdicts: same.length, ...summary(same), perSecondAtDefaultBudget: Math.floor(250 / summary(same).wallMs),
      newCheckpoint: summary(newBlock), afterRevocation: { ...summary(added), verdicts: added.length },
    };
    log(`${label}: ${result.wallMs} ms per verdict (p90 ${result.wallP90Ms} ms, CPU ${result.cpuMs} ms; median of ${same.length}): ~${result.perSecondAtDefaultBudget} verdicts/s within 250 ms/s`);
    log(`${label}: a new block before each verdict: ${result.newCheckpoint.wallMs} ms (p90 ${result.newCheckpoint.wallP90Ms} ms, CPU ${result.newCheckpoint.cpuMs} ms)`);
    log(`${label}: a revocation logged before each verdict: ${result.afterRevocation.wallMs} ms (p90 ${result.afterRevocation.wallP90Ms} ms, CPU ${result.afterRevocation.cpuMs} ms; median of ${added.length})`);
    return result;
  } finally {
    await gw?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

// Standalone: node dist/bench/verify-route.js [--revocations 0,300,3000] [--verdicts 40]
if (import.meta.url === `file://${process.argv[1]}`) {
  const args = standaloneArgs();
  const out: VerifyRouteResult[] = [];
  for (const n of (args.text('revocations') ?? '0,300,3000').split(',').map(Number)) out.push(await runVerifyRouteBench({ revocations: n, verdicts: args.number('verdicts', 40) }));
  console.log(JSON.stringify(out, null, 2));
}
