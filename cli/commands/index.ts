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
}
