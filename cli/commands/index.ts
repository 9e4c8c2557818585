import type { Command } from 'commander';
import { registerGateway } from './gateway.js';
import { registerRegistryCommands } from './registry.js';
import { registerKeys } from './keys.js';
import { registerCert } from './cert.js';
import { registerLedgerCommand } from './ledger.js';
import { registerSim } from './sim.js';
import { registerVerify } from './verify.js';
import { registerFetchBundle } from './fetch-bundle.js';
import { registerFetchRevocations } from './fetch-revocations.js';
import { registerMonitor } from './monitor.js';

/** Each concern adds its subcommands here. */
export function registerCommands(program: Command): void {
  registerGateway(program);
  registerRegistryCommands(program);
  registerKeys(program);
  registerCert(program);
  registerLedgerCommand(program);
  registerSim(program);
  registerVerify(program);
  registerFetchBundle(program);
  registerFetchRevocations(program);
  registerMonitor(program);
  addForce(program);
}

/**
 * The commands whose --out names a file they create (cli/files.ts writeOutput): an existing one is replaced only with
 * --force, and never when it is one of the command's inputs or holds a secret key. `keys generate` never replaces a
 * file; the state a command keeps updating (monitor --state, fetch-revocations --out, sim onboard --out) is no output.
 */
const OUTPUT_COMMANDS = [['cert', 'root'], ['cert', 'agency'], ['cert', 'device'], ['cert', 'revoke'], ['keys', 'prove'], ['trust'], ['fetch-bundle']];

function addForce(program: Command): void {
  for (const names of OUTPUT_COMMANDS) {
    let cmd: Command | undefined = program;
    for (const n of names) cmd = cmd?.commands.find((c) => c.name() === n);
    if (!cmd) throw new Error(`no command ${names.join(' ')}`);
    cmd.option('--force', 'replace the --out file if it exists (never an input of this command, never a secret key)');
  }
}
