#!/usr/bin/env node
/** The `originproof` command: one entry point, one subcommand module per concern (cli/commands/*). */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerCommands } from './commands/index.js';
import { describeFailure, exitCodeFor } from './failure.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command()
  .name('originproof')
  .description('OriginProof: device-signed readings, agency certificates, and a verifiable Merkle log.')
  .version(pkg.version);

registerCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`originproof: ${describeFailure(err)}\n`);
  process.exit(exitCodeFor(err));
});
