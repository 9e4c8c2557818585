/**
 * What the built CLI loads at start. The server side (fastify, aedes, mqtt, TypeBox's ~250 modules) is loaded only by
 * the command that runs it (`gateway`, `sim run`), never by `--help`, `verify` or `cert`: TypeBox alone, pulled in
 * through the gateway command's help text, cost every command ~0.25 s at start (a CLI run took ~0.5 s; now ~0.28 s).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const TRACE = fileURLToPath(new URL('./fixtures/import-trace.mjs', import.meta.url));
const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const SERVER_SIDE = ['@sinclair/typebox', 'fastify', 'aedes', '/mqtt/', 'prom-client', 'pino'];

function loaded(...args: string[]): string[] {
  const r = spawnSync(process.execPath, ['--import', TRACE, MAIN, ...args], { encoding: 'utf8' });
  return r.stderr.split('\n').filter((l) => l.startsWith('import-trace ')).map((l) => l.slice('import-trace '.length));
}

describe('the CLI loads no server-side package at start', () => {
  test.each(['--help', 'verify --help', 'cert --help', 'gateway --help'])('%s', (command) => {
    const urls = loaded(...command.split(' '));
    expect(urls.some((u) => u.endsWith('/dist/cli/main.js')), 'the trace sees the CLI itself').toBe(true);
    expect(urls.some((u) => u.includes('/protocol/')), 'and what it imports').toBe(true);
    expect(urls.filter((u) => SERVER_SIDE.some((s) => u.includes(s)))).toEqual([]);
  });
});
