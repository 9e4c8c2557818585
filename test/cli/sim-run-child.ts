/**
 * Shared by the `sim run` tests that drive the built CLI (dist/) as a child process against a gateway in this process
 * (sim-run-revoked, sim-run-signals; their gateway and fleet: test/sim/helpers.ts simGatewayFixture): a run that is
 * waited for without blocking this process (spawnSync would stall the gateway the child talks to).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const main = join(process.cwd(), 'dist/cli/main.js');

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
