/**
 * `npm run demo`: the whole story in about 20 seconds. A gateway on free ports with a temp data dir; a root
 * authority and two agencies (a public security bureau with fingerprint readers at service counters, an
 * environmental bureau with sensors); onboarding; a fleet run with attacks; one device revoked mid-run; one
 * record's proof bundle fetched over HTTP and verified offline with only the root key and the gateway's
 * checkpoint key. Exits 1 if an attack was not rejected as expected or the bundle does not verify.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodeProofBundle, parseTrustText, verifyBundle, type Verdict } from '../protocol/index.js';
import { plainMqttUrl, startGateway } from '../gateway/gateway.js';
import { ATTACKS, type AttackName } from '../device-sim/attacks.js';
import type { Device } from '../device-sim/device.js';
import { runFleet, type FleetSummary } from '../device-sim/fleet.js';
import { deviceFrom, onboardDevice, type Onboarded } from '../device-sim/onboard.js';
import { RootAuthority } from '../device-sim/pki.js';
import type { DeviceKind } from '../device-sim/state.js';

export interface DemoOptions {
  write?: (text: string) => void;
  devicesPerKind?: number;
  rate?: number;
  durationMs?: number;
  attacks?: AttackName[];
}

export interface DemoResult {
  ok: boolean;
  summary: FleetSummary;
  verdict: Verdict | null;
  revokedRejections: number;
  report: string;
}

const nowS = () => Math.floor(Date.now() / 1000);
const short = (id: string) => `${id.slice(0, 10)}…`;

export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const write = o.write ?? ((s: string) => process.stdout.write(s));
  const say = (s = '') => write(s + '\n');
  const dir = await mkdtemp(join(tmpdir(), 'originproof-demo-'));
  const lines: string[] = [];
  const report = (s = '') => {
    lines.push(s);
    say(s);
  };
  const gwHolder: { close?: () => Promise<void> } = {};
  try {
    say('OriginProof demo: devices sign readings, the gateway checks them and logs them in a Merkle log.');
    const root = await RootAuthority.create('root.example-city.gov');
    const trustFile = join(dir, 'gateway-trust.json');
    await writeFile(trustFile, root.trustJson());
    const gw = await startGateway({ dataDir: join(dir, 'data'), host: '127.0.0.1', httpPort: 0, mqttPort: 0, trustFile, logLevel: 'silent' });
    gwHolder.close = () => gw.close();
    say(`1. gateway up: HTTP ${gw.httpUrl}, MQTT ${gw.mqttUrl}; trusts root ${root.id}`);

    const psb = await root.agency('psb.example-city.gov');
    const env = await root.agency('env.example-city.gov');
    await psb.registerSelf(gw.httpUrl);
    await env.registerSelf(gw.httpUrl);
    say(`2. agencies certified by the root and registered: ${psb.id} (public security bureau), ${env.id} (environmental bureau)`);

    const endpoint = { httpUrl: gw.httpUrl, mqttUrl: plainMqttUrl(gw), aud: gw.config.gatewayId, checkpointVerifierKey: gw.checkpointVerifierKey };
    const per = o.devicesPerKind ?? 3;
    const plan: [typeof psb, DeviceKind, number][] = [
      [psb, 'fingerprint-reader', per + 1],
      [env, 'temperature-sensor', per],
      [env, 'air-quality-sensor', per],
      [env, 'water-meter', Math.max(1, per - 1)],
    ];
    const onboarded: Onboarded[] = [];
    for (const [agency, kind, n] of plan) {
      for (let i = 0; i < n; i++) {
        onboarded.push(await onboardDevice(agency, { gateway: endpoint, kind, alg: i % 2 === 0 ? -8 : -7, dir: join(dir, 'devices') }));
      }
    }
    const devices: Device[] = onboarded.map((d) => deviceFrom(d, { resendTimeoutMs: 5_000 }));
    const count = (k: DeviceKind) => onboarded.filter((d) => d.state.kind === k).length;
    say(`3. onboarded ${devices.length} devices (key in a secure element, proof of possession, certificate, registration):`);
    say(`   ${psb.id}: ${count('fingerprint-reader')} fingerprint readers at service counters (identity checks)`);
    say(`   ${env.id}: ${count('temperature-sensor')} temperature/humidity, ${count('air-quality-sensor')} air-quality sensors, ${count('water-meter')} water meters`);

    // One environmental sensor is revoked half-way through the run.
    const victimIdx = onboarded.findIndex((d) => d.state.kind === 'temperature-sensor');
    const victim = onboarded[victimIdx]!;
    const victimDevice = devices[victimIdx]!;
    let revokedAt = 0;
    const durationMs = o.durationMs ?? 8_000;
    const rate = o.rate ?? 60;
    const attacks = o.attacks ?? [...ATTACKS];
    say(`4. fleet run: ${rate} readings/s for ${durationMs / 1000} s, attacks: ${attacks.join(', ')}`);
    say(`   (at ${durationMs / 2000} s the environmental bureau revokes sensor ${short(victim.state.deviceId)})`);
    const summary = await runFleet({
      devices,
      rate,
      durationMs,
      attacks,
      agency: env,
      gateway: endpoint,
      maxReadingBytes: gw.config.maxReadingBytes,
      events: [
        {
          atMs: durationMs / 2,
          run: async () => {
            revokedAt = nowS();
            await env.revoke(gw.httpUrl, victim.cert, { revokedFrom: revokedAt, reason: 'keyCompromise' });
          },
        },
      ],
    });
    const revokedRejections = victimDevice.stats.rejected.CERT_REVOKED ?? 0;

    // A fingerprint reader's record, verified offline.
    const reader = devices.find((d) => d.state.kind === 'fingerprint-reader' && d.lastReceipt)!;
    let verdict: Verdict | null = null;
    let bundleIndex = -1;
    if (reader?.lastReceipt) {
      bundleIndex = reader.lastReceipt.index;
      const res = await fetch(`${gw.httpUrl}/v1/entries/${bundleIndex}/bundle?format=cbor`);
      const bundleBytes = new Uint8Array(await res.arrayBuffer());
      await writeFile(join(dir, `entry-${bundleIndex}.bundle`), bundleBytes);
      const verifierTrust = parseTrustText(root.trustJson([gw.checkpointVerifierKey]));
      verdict = verifyBundle(decodeProofBundle(bundleBytes), verifierTrust);
    }
    const checkpoint = await (await fetch(`${gw.httpUrl}/v1/checkpoints/latest`)).text();

    // The report.
    report('');
    report('=== Report ===');
    report(`Fleet: ${summary.devices} devices, ${summary.sent} readings sent, ${summary.resent} resent; receipt latency p50 ${summary.latencyMs.p50} ms, p95 ${summary.latencyMs.p95} ms, p99 ${summary.latencyMs.p99} ms`);
    report('');
    report(`  ${'outcome'.padEnd(34)} count`);
    report(`  ${'accepted (receipt checked)'.padEnd(34)} ${summary.receipted}`);
    for (const [code, n] of Object.entries(summary.rejected).sort()) report(`  ${('rejected ' + code).padEnd(34)} ${n}`);
    report('');
    report(`  ${'attack'.padEnd(16)} ${'expected'.padEnd(25)} ${'got'.padEnd(25)} result`);
    for (const a of summary.attacks) report(`  ${a.name.padEnd(16)} ${a.expected.padEnd(25)} ${(a.got ?? '-').padEnd(25)} ${a.ok ? 'rejected' : 'NOT REJECTED AS EXPECTED'}`);
    report('');
    report(`Revocation: sensor ${short(victim.state.deviceId)} revoked from ${revokedAt}; its later readings were rejected CERT_REVOKED (${revokedRejections}), after which it stopped sending.`);
    report('');
    report('Latest checkpoint (signed by the gateway):');
    for (const l of checkpoint.trimEnd().split('\n')) report(`  ${l}`);
    report('');
    if (verdict) {
      const rec = verdict.record;
      report(`Offline verification of entry #${bundleIndex} (fingerprint reader ${short(reader.id)}, seq ${rec?.seq ?? '?'}), trusting only the root key and the gateway checkpoint key:`);
      for (const c of verdict.checks) report(`  ${c.name.padEnd(12)} ${c.status.padEnd(5)} ${c.code ? `[${c.code}] ` : ''}${c.message}`);
    } else {
      report('No fingerprint reading was receipted: nothing to verify.');
    }
    const okAttacks = summary.attacksOk && summary.attacks.length === attacks.length;
    const okBundle = verdict?.valid === true;
    const okRevocation = revokedRejections > 0;
    const ok = okAttacks && okBundle && okRevocation;
    report('');
    report(okAttacks ? `RESULT: every attack was rejected as expected (${summary.attacks.length}/${attacks.length}).` : 'RESULT: some attacks were NOT rejected as expected.');
    report(okRevocation ? 'RESULT: readings after the revocation were rejected.' : 'RESULT: the revoked device was NOT rejected.');
    report(okBundle ? 'RESULT: the proof bundle verified offline.' : 'RESULT: the proof bundle did NOT verify.');
    return { ok, summary, verdict, revokedRejections, report: lines.join('\n') };
  } finally {
    await gwHolder.close?.().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const t0 = Date.now();
  runDemo().then(
    (r) => {
      process.stdout.write(`\n(${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
      process.exit(r.ok ? 0 : 1);
    },
    (err: unknown) => {
      process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
