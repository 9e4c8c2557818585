import type { Command } from 'commander';
import { registerKeys } from './keys.js';
import { registerCert } from './cert.js';
import { registerLedgerCommand } from './ledger.js';

/** Each concern adds its subcommands here. */
export function registerCommands(program: Command): void {
  program
    .command('gateway')
    .description('run the gateway (MQTT ingestion + HTTP API)')
    .action(() => {
      process.stdout.write('The gateway is not built yet (issue 4). Available now: originproof keys, originproof cert.\n');
    });
  registerKeys(program);
  registerCert(program);
  registerLedgerCommand(program);
}
