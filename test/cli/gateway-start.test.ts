/**
 * `npm start` is `node dist/cli/main.js gateway`: started here the same way, configured only by environment
 * variables (ports 0: tests never bind fixed ports), it serves /healthz and /docs, creates its checkpoint key and
 * stops cleanly on SIGTERM; a configuration that does not validate stops the start with a clear message.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

const main = join(process.cwd(), 'dist/cli/main.js');

describe('starting the gateway as npm start does', () => {
  test('environment-configured start serves /healthz and /docs, then shuts down on SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-start-'));
    const env = { ...process.env, ORIGINPROOF_DATA_DIR: join(dir, 'data'), ORIGINPROOF_HTTP_PORT: '0', ORIGINPROOF_MQTT_PORT: '0', ORIGINPROOF_HOST: '127.0.0.1', ORIGINPROOF_LOG_LEVEL: 'warn' };
    const child = spawn(process.execPath, [main, 'gateway'], { env });
    const url = await new Promise<string>((resolve, reject) => {
      let text = '';
      child.stdout.on('data', (d: Buffer) => {
        text += d.toString();
        const m = /HTTP API\s+(http:\/\/\S+)/.exec(text);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (c) => reject(new Error(`exited ${c}: ${text}`)));
    });
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
    const docs = await fetch(`${url}/docs/`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger');
    expect(existsSync(join(dir, 'data', 'gateway-checkpoint.key.json'))).toBe(true);
    const exit = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    await rm(dir, { recursive: true, force: true });
  });

  test('an invalid configuration stops the start (exit 2) and names the field', () => {
    const r = spawnSync(process.execPath, [main, 'gateway'], { env: { ...process.env, ORIGINPROOF_HTTP_PORT: 'eighty', ORIGINPROOF_DATA_DIR: join(tmpdir(), 'op-never') }, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/invalid gateway configuration/);
    expect(r.stderr).toMatch(/httpPort/);
  });
});
