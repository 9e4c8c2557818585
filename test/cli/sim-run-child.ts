/**
 * Shared by the `sim run` tests that drive the built CLI (dist/) as a child process against a gateway in this process
 * (sim-run-revoked, sim-run-signals): the gateway and an onboarded fleet for a file's tests, and a run that is waited
 * for without blocking this process (spawnSync would stall the gateway the child talks to).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { onboardFleet } from '../../device-sim/index.js';
import { startSimGateway, type SimGateway } from '../sim/helpers.js';

const main = join(process.cwd(), 'dist/cli/main.js');

export interface GatewayWithFleet {
  t: SimGateway;
  /** The fleet directory (fleet.json, the devices' state, sealed key and outbox files). */
  fleet: string;
  ids: string[];
}

/** A gateway and `count` onboarded water meters, made before the file's tests and removed after them. */
export function gatewayWithFleet(prefix: string, count = 2): GatewayWithFleet {
  const f = {} as GatewayWithFleet;
  let dir: string | undefined;
  beforeAll(async () => {
    f.t = await startSimGateway();
    dir = await mkdtemp(join(tmpdir(), prefix));
    f.fleet = join(dir, 'fleet');
    const m = await onboardFleet({ gateway: f.t.endpoint, agency: f.t.agency, agencyKeyFile: 'unused.key', agencyCertFile: 'unused.cert', count, kinds: ['water-meter'], out: f.fleet });
    f.ids = m.devices.map((d) => d.replace(/\.json$/, ''));
  });
  afterAll(async () => {
    await f.t?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return f;
}

export interface SimRun {
  child: ChildProcess;
  /** What it has written so far. */
  out(): string;
  err(): string;
  /** Its exit code and the signal that ended it. */
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/** `originproof sim run ARGS` as a child process. */
export function simRunChild(args: string[]): SimRun {
  const child = spawn(process.execPath, [main, 'sim', 'run', ...args], { stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (c, s) => r([c, s])));
  return { child, out: () => out, err: () => err, exited };
}
