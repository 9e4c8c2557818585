/**
 * `originproof gateway --gateway-id` / ORIGINPROOF_GATEWAY_ID: the audience connect tokens must name. The built CLI
 * is started as npm start does; the banner shows the id in use, and an id no token could name stops the start.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { npmStartArgs } from '../../scripts/npm-start.js';
import { readyBanner } from './gateway-process.js';

const main = join(process.cwd(), 'dist/cli/main.js');

describe('the gateway id on the command line and in the environment', () => {
  test('--gateway-id is used (the banner shows it), over ORIGINPROOF_GATEWAY_ID', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-gwid-'));
    const args = [...npmStartArgs(process.cwd()), '--data-dir', join(dir, 'data'), '--host', '127.0.0.1', '--http-port', '0', '--mqtt-port', '0', '--gateway-id', 'gw-b.example', '--log-level', 'warn'];
    const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, ORIGINPROOF_GATEWAY_ID: 'gw-env.example' } });
    try {
      const banner = await readyBanner(child);
      expect(banner).toMatch(/^ {2}gateway id\s+gw-b\.example /m);
      const exit = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  test.each([
    ['--gateway-id', ['--gateway-id', 'Gateway B'], {}],
    ['ORIGINPROOF_GATEWAY_ID', [], { ORIGINPROOF_GATEWAY_ID: 'gw_b' }],
  ])('an id a token could not name (%s) stops the start: exit 2, names gatewayId', (_what, flags, env) => {
    const r = spawnSync(process.execPath, [main, 'gateway', ...flags], {
      env: { ...process.env, ...env, ORIGINPROOF_DATA_DIR: join(tmpdir(), 'op-never'), ORIGINPROOF_HTTP_PORT: '0', ORIGINPROOF_MQTT_PORT: '0' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^\[CONFIG_INVALID\] invalid gateway configuration/);
    expect(r.stderr).toMatch(/gatewayId/);
  });
});
