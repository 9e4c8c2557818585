#!/usr/bin/env node
/** The `originproof` command: one entry point, one subcommand module per concern (cli/commands/*). */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { registerCommands } from './commands/index.js';
import { describeFailure, exitCodeFor } from './failure.js';
import { printable } from '../protocol/printable.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command()
  .name('originproof')
  .description('OriginProof: device-signed readings, agency certificates, and a verifiable Merkle log.')
  .version(pkg.version);

// Usage errors (a required option missing, an unknown option or command) are exit 2, no verdict: commander's own
// exit 1 would read as "invalid" to a script. Set before the commands are added, so that they inherit it.
program.exitOverride();
registerCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2); // commander printed it already
  // Its message may quote a gateway or a bundle: printed escaped (printable.ts).
  process.stderr.write(`originproof: ${printable(describeFailure(err), { lines: true })}\n`);
  process.exit(exitCodeFor(err));
});
