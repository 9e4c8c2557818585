/**
 * `originproof sim onboard|run|demo`: the device simulator (device-sim/). `onboard` makes a fleet's keys, proofs
 * of possession and certificates and registers them with a gateway, writing one state file per device plus
 * fleet.json; `run` drives that fleet (optionally with attacks) and prints a summary; `demo` is `npm run demo`.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { SingleBar } from 'cli-progress';
// What the commands' help needs, from modules that load no MQTT client; the simulator itself is loaded by the
// command that runs it (every CLI command paid for loading it, and the gateway, at start: ~1 s a process).
import { ATTACK_HELP, ATTACKS, isAttackName, type AttackName } from '../../device-sim/attack-names.js';
import { algFromName } from '../../device-sim/secure-element.js';
import { DEFAULT_AUD, DEVICE_KINDS, type DeviceKind } from '../../device-sim/state.js';
import { parseJsonFile, readBoundedFile } from '../files.js';
import { uintOption } from '../options.js';
import { fail } from '../../protocol/errors.js';
import type { Alg } from '../../protocol/index.js';

/** "30", "30s", "2m", "1500ms" -> milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) fail('MALFORMED', `bad duration ${JSON.stringify(text)} (e.g. 30s, 2m, 1500ms)`, 'duration');
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000));
}

/** --alg: ed25519 or es256 (MALFORMED otherwise). */
function algOption(name: string): Alg {
  try {
    return algFromName(name);
  } catch (err) {
    return fail('MALFORMED', (err as Error).message, 'alg');
  }
}

function parseKinds(text: string): DeviceKind[] {
  if (text === 'mixed') return [...DEVICE_KINDS];
  const kinds = text.split(',').map((k) => k.trim());
  for (const k of kinds) if (!(DEVICE_KINDS as readonly string[]).includes(k)) fail('MALFORMED', `unknown kind ${k} (${DEVICE_KINDS.join(', ')} or mixed)`, 'kind');
  return kinds as DeviceKind[];
}

interface RunConfig {
  fleet?: string;
  devices?: number;
  rate?: number;
  duration?: string | number;
  attacks?: string[];
  mqtt?: string;
  gateway?: string;
  maxReadingBytes?: number;
}

/** A `sim run --config` file holds a dozen settings: a larger one is not one. */
const RUN_CONFIG_MAX_BYTES = 1 << 20;

const isPositiveInteger = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
const isPositiveNumber = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;
const isString = (v: unknown): boolean => typeof v === 'string';
/** Each key a `sim run --config` file may hold, what it must be, and the check. */
const CONFIG_KEYS: Record<keyof RunConfig, [string, (v: unknown) => boolean]> = {
  fleet: ['a directory (string)', isString],
  devices: ['an integer >= 1', isPositiveInteger],
  rate: ['a number > 0 (readings per second)', isPositiveNumber],
  duration: ['a duration such as "30s" or "2m", or a number of seconds > 0', (v) => isString(v) || isPositiveNumber(v)],
  attacks: ['a list of attack names', (v) => Array.isArray(v) && v.every(isString)],
  mqtt: ['a URL (string)', isString],
  gateway: ['a URL (string)', isString],
  maxReadingBytes: ['an integer >= 1', isPositiveInteger],
};

/** A `sim run --config` file: a JSON object with only the keys above, each of its type (exit 2 otherwise). */
export function parseRunConfig(text: string, path: string): RunConfig {
  const cfg = parseJsonFile(text, path, 'sim run config');
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) fail('MALFORMED', `${path}: a sim run config is a JSON object {${Object.keys(CONFIG_KEYS).join(', ')}}`, '');
  for (const [k, v] of Object.entries(cfg)) {
    const rule = CONFIG_KEYS[k as keyof RunConfig] as [string, (v: unknown) => boolean] | undefined;
    if (!rule) fail('MALFORMED', `${path}: unknown key "${k}" (known: ${Object.keys(CONFIG_KEYS).join(', ')})`, k);
    if (!rule[1](v)) fail('MALFORMED', `${path}: "${k}" must be ${rule[0]}, not ${JSON.stringify(v)}`, k);
  }
  return cfg as RunConfig;
}

/** --rate, from the flag or the config file: a number > 0, decimals allowed (exit 2 otherwise). */
function rateOption(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : NaN;
  if (!isPositiveNumber(n)) fail('MALFORMED', `--rate must be a number > 0 (readings per second), got ${String(v)}`, 'rate');
  return n;
}

/** The exit code of a `sim run` stopped by a signal: 128 + its number, as a shell reports a process it ended. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

export function registerSim(program: Command): void {
  const sim = program.command('sim').description('device simulator: onboard a fleet, run it (with attacks), or the demo');

  sim.command('onboard').description('onboard N devices: key + proof of possession, agency certificate, registration over HTTP')
    .requiredOption('--gateway <url>', 'gateway HTTP URL, e.g. http://127.0.0.1:8080')
    .option('--mqtt <url>', 'gateway MQTT URL (default: the gateway host and the MQTT port it publishes on GET /v1/log)')
    .requiredOption('--agency-key <file>', 'agency secret key (originproof keys generate)')
    .requiredOption('--agency-cert <file>', 'agency certificate (originproof cert agency)')
    .requiredOption('--count <n>', 'number of devices')
    .option('--kind <kind>', `${DEVICE_KINDS.join('|')}, a comma list, or mixed`, 'temperature-sensor')
    .option('--alg <alg>', 'ed25519 or es256', 'ed25519')
    .option('--aud <id>', `gateway id (aud of connect tokens; default: the one the gateway publishes on GET /v1/log, else ${DEFAULT_AUD})`)
    .option('--ca <file>', "CA certificate (PEM) that issued the gateway's TLS certificate, for mqtts: (default: the system's CAs)")
    .requiredOption('--out <dir>', 'directory for device state files and fleet.json')
    .action(async (o: { gateway: string; mqtt?: string; agencyKey: string; agencyCert: string; count: string; kind: string; alg: string; aud?: string; ca?: string; out: string }) => {
      // The flags first: a bad one is named before the agency's files are read or the gateway asked.
      const count = Number(o.count);
      if (!Number.isInteger(count) || count < 1) fail('MALFORMED', '--count must be a positive integer', 'count');
      const kinds = parseKinds(o.kind);
      const alg = algOption(o.alg);
      const { Agency, fetchMqttUrl, onboardFleet } = await import('../../device-sim/index.js');
      const agency = Agency.load(o.agencyKey, o.agencyCert);
      const gateway = { httpUrl: o.gateway.replace(/\/$/, ''), mqttUrl: o.mqtt ?? (await fetchMqttUrl(o.gateway)), ...(o.aud ? { aud: o.aud } : {}), ...(o.ca ? { tlsCa: readFileSync(o.ca, 'utf8') } : {}) };
      const m = await onboardFleet({
        gateway, agency, agencyKeyFile: resolve(o.agencyKey), agencyCertFile: resolve(o.agencyCert), count, kinds, alg, out: o.out,
        onDevice: (i, d) => process.stderr.write(`  ${String(i + 1).padStart(4)} ${d.state.deviceId} ${d.state.kind}\n`),
      });
      process.stdout.write(`${JSON.stringify({ fleet: resolve(o.out, 'fleet.json'), agency: agency.id, devices: m.devices.length, gateway: { ...m.gateway, ...(m.gateway.tlsCa ? { tlsCa: `PEM, ${m.gateway.tlsCa.length} characters` } : {}) } }, null, 2)}\n`);
    });

  sim.command('run').description('run an onboarded fleet: N devices, R readings/s in total, for a duration; attacks optional')
    .option('--fleet <dir>', 'directory written by sim onboard', '.')
    .option('--devices <n>', 'how many of the fleet to run (default: all)')
    .option('--rate <r>', 'readings per second over the fleet', '10')
    .option('--duration <d>', 'e.g. 30s, 2m', '10s')
    .option('--config <file>', 'JSON: {fleet, devices, rate, duration, attacks, mqtt, gateway, maxReadingBytes}; flags win')
    .option('--attack <name...>', `attack modes (or "all"): ${ATTACKS.join(', ')}`)
    .option('--mqtt <url>', "override the gateway MQTT URL from the devices' state, for this run (their files keep theirs)")
    .option('--gateway <url>', 'override the gateway HTTP URL from fleet.json (the attacks register their devices there)')
    .option('--ca <file>', "override the CA certificate (PEM) the devices check the gateway's TLS certificate with, for this run")
    .option('--max-reading-bytes <n>', "the gateway's reading size limit (for the oversized attack)")
    .option('--json', 'print the summary as JSON')
    .option('--no-progress', 'no progress bar')
    .addHelpText('after', `\nAttacks:\n${ATTACKS.map((a) => `  ${a.padEnd(16)} ${ATTACK_HELP[a]}`).join('\n')}\n`)
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const src = (k: string) => cmd.getOptionValueSource(k) === 'cli';
      const cfg: RunConfig = o.config ? parseRunConfig(new TextDecoder().decode(readBoundedFile(String(o.config), RUN_CONFIG_MAX_BYTES)), String(o.config)) : {};
      const pick = <T>(k: string, c: T | undefined): T | string | undefined => (src(k) || c === undefined ? (o[k] as string | undefined) : c);
      const fleetDir = String(pick('fleet', cfg.fleet));
      const devicesOpt = pick('devices', cfg.devices);
      const devicesCount = devicesOpt === undefined ? undefined : uintOption(devicesOpt, 'devices', 1);
      const rate = rateOption(pick('rate', cfg.rate));
      const durationRaw = pick('duration', cfg.duration);
      const durationMs = typeof durationRaw === 'number' ? durationRaw * 1000 : parseDuration(String(durationRaw));
      if (!(durationMs > 0)) fail('MALFORMED', `--duration must be longer than 0 (e.g. 30s, 2m, 1500ms), not ${JSON.stringify(durationRaw)}`, 'duration');
      const maxReadingBytesOpt = o.maxReadingBytes ?? cfg.maxReadingBytes;
      const maxReadingBytes = maxReadingBytesOpt === undefined ? undefined : uintOption(maxReadingBytesOpt as string | number, 'max-reading-bytes', 1);
      const attackNames = (src('attack') ? (o.attack as string[]) : (cfg.attacks ?? (o.attack as string[] | undefined) ?? [])).flatMap((a) => (a === 'all' ? [...ATTACKS] : [a]));
      for (const a of attackNames) if (!isAttackName(a)) fail('MALFORMED', `unknown attack ${a} (${ATTACKS.join(', ')})`, 'attack');
      const mqttUrl = pick('mqtt', cfg.mqtt) as string | undefined;
      // With --mqtt alone the attacks still registered their devices at the HTTP URL saved at onboarding (found by
      // the README walk: "fetch failed" once the gateway had moved).
      const httpUrl = (pick('gateway', cfg.gateway) as string | undefined)?.replace(/\/$/, '');
      // SIGINT or SIGTERM (Ctrl-C, a service stopped): no new readings; the answers to those in flight are waited for,
      // the devices closed (their outbox logs written, their locks let go) and the summary printed, exit 128 + the
      // signal's number. Before, the process died at once: no summary of a run of hours, the cursor left hidden.
      // A second signal quits at once: every reading not answered is in its device's outbox log, resent next run.
      let bar: SingleBar | null = null; // the progress bar, made once the fleet is loaded
      const stop = new AbortController();
      let stoppedBy: NodeJS.Signals | null = null;
      const onSignal = (sig: NodeJS.Signals) => {
        if (stoppedBy) {
          bar?.stop();
          process.exit(SIGNAL_EXIT[sig]);
        }
        stoppedBy = sig;
        stop.abort();
        bar?.stop();
        process.stderr.write(`${sig}: stopping: no new readings; waiting for the answers to those sent (${sig} again to quit at once)\n`);
      };
      const signals = ['SIGINT', 'SIGTERM'] as const;
      for (const sig of signals) process.on(sig, onSignal);
      // Taken before the fleet is loaded (its state files locked) and connected: a signal then, which killed the
      // process and left the locks to be taken over, now stops the run as any other (no reading made, a summary).
      const [{ formatSummary, loadFleet, runFleet }, { default: cliProgress }] = await Promise.all([import('../../device-sim/index.js'), import('cli-progress')]);
      const { manifest, devices, agency } = loadFleet(fleetDir, {
        ...(devicesCount !== undefined ? { count: devicesCount } : {}),
        ...(mqttUrl ? { mqttUrl } : {}),
        ...(httpUrl ? { httpUrl } : {}),
        ...(o.ca ? { tlsCa: readFileSync(String(o.ca), 'utf8') } : {}),
      });
      if (attackNames.length > 0 && !agency) fail('MALFORMED', `attacks need the agency key and certificate named in ${join(fleetDir, 'fleet.json')}, which cannot be loaded`, 'attack');
      bar = o.progress !== false && !o.json ? new cliProgress.SingleBar({ format: 'readings |{bar}| {value}/{total} sent  receipted {receipted}  rejected {rejected}  {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic) : null;
      const expected = Math.floor((rate * durationMs) / 1000); // what runFleet makes
      if (!stoppedBy) bar?.start(expected, 0, { receipted: 0, rejected: 0 });
      const summary = await runFleet({
        devices, rate, durationMs, attacks: attackNames as AttackName[],
        ...(agency ? { agency } : {}), gateway: manifest.gateway,
        ...(maxReadingBytes !== undefined ? { maxReadingBytes } : {}),
        onProgress: (p) => stoppedBy || bar?.update(Math.min(expected, p.sent), { receipted: p.receipted, rejected: p.rejected }),
        signal: stop.signal,
      }).finally(() => {
        for (const sig of signals) process.off(sig, onSignal);
      });
      bar?.stop();
      process.stdout.write(o.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`);
      if (!summary.attacksOk) process.exitCode = 1;
      // As an attack that was not refused: the run found the gateway misbehaving (the summary names an example).
      if (summary.logRollbacks.devices > 0) {
        process.stderr.write(`${summary.logRollbacks.devices} of ${summary.devices} devices saw the log go back (CONSISTENCY_INVALID)\n`);
        process.exitCode = 1;
      }
      // Readings the devices could not keep (a full disk) were never sent: the run measured less than it says.
      const notSent = Object.values(summary.notSent).reduce((a, b) => a + b, 0);
      if (notSent > 0) {
        process.stderr.write(`${notSent} readings could not be made or kept (${Object.keys(summary.notSent).join(', ')}) and were not sent\n`);
        process.exitCode = 1;
      }
      // A fleet that could not connect measured nothing: say so in the exit code too (scripts, CI).
      if (summary.connected < summary.devices && Object.keys(summary.connectFailures).length > 0) {
        process.stderr.write(`${summary.devices - summary.connected} of ${summary.devices} devices could not connect\n`);
        process.exitCode = 1;
      } else if (summary.connected < summary.devices) {
        process.stderr.write(`${summary.devices - summary.connected} of ${summary.devices} devices had not connected when the run was stopped\n`);
      }
      // A device the gateway told to stop sending (revoked, expired, during the run) took no further part: as one that
      // could not connect (found by review: exit 0 when revoked during a run, 1 when revoked before it).
      const halted = Object.values(summary.halted).reduce((a, b) => a + b, 0);
      if (halted > 0) {
        process.stderr.write(`${halted} of ${summary.devices} devices were told to stop sending (${Object.keys(summary.halted).join(', ')})\n`);
        process.exitCode = 1;
      }
      if (stoppedBy) process.exitCode = SIGNAL_EXIT[stoppedBy as 'SIGINT' | 'SIGTERM'];
    });

  sim.command('demo').description('the one-command demo (same as npm run demo)').action(async () => {
    const { runDemo } = await import('../demo.js');
    const r = await runDemo();
    process.exitCode = r.ok ? 0 : 1;
  });
}
