#!/usr/bin/env node
/** The `originproof` command: one entry point, one subcommand module per concern (cli/commands/*). */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerCommands } from './commands/index.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command()
  .name('originproof')
  .description('OriginProof: device-signed readings, agency certificates, and a verifiable Merkle log.')
  .version(pkg.version);

registerCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  process.stderr.write(`originproof: ${e.code ? `[${e.code}] ` : ''}${e.message ?? String(err)}\n`);
  process.exit(2);
});
