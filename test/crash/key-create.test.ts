/**
 * The gateway's checkpoint key is created whole and durable before it is in place (gateway/checkpoint-key.ts): a
 * temp file written and fsync'ed, linked to its name, the directory fsync'ed. A first start killed while creating it
 * leaves no key file (only a temp file, removed at the next start), so the next start makes a key and runs; before,
 * a kill between creating the file and writing it left an empty key file that stopped every later start.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-key.js';
import { CRASH_ENV } from '../../gateway/crash-points.js';
import { killGateway, newRoot, removeDirs, spawnGateway, type GatewayProcess } from './harness.js';

describe('the checkpoint key, across a SIGKILL during its creation', () => {
  const dirs: string[] = [];
  let gw: GatewayProcess | null = null;
  afterAll(async () => {
    await killGateway(gw);
    await removeDirs(dirs);
  });

  test('killed after the key is written, before it is linked: no key file; the next start makes one and serves', async () => {
    const { dir, trustFile } = await newRoot();
    dirs.push(dir);
    const dataDir = join(dir, 'data');
    await expect(spawnGateway({ dataDir, trustFile, env: { [CRASH_ENV]: 'key-create:1' } })).rejects.toThrow(/SIGKILL|reached key-create/);
    const left = await readdir(dataDir);
    expect(left).not.toContain(CHECKPOINT_KEY_FILE);
    expect(left.filter((n) => n.startsWith(`${CHECKPOINT_KEY_FILE}.tmp-`))).toHaveLength(1);

    gw = await spawnGateway({ dataDir, trustFile });
    const key = JSON.parse(await readFile(join(dataDir, CHECKPOINT_KEY_FILE), 'utf8')) as { alg: string; secretKey: string; publicKey: string };
    expect(key.alg).toBe('ed25519');
    expect(key.secretKey).toMatch(/^[0-9a-f]{64}$/);
    expect((await readdir(dataDir)).filter((n) => n.includes('.tmp-'))).toEqual([]); // the stale temp file is gone
    const health = await fetch(`${gw.httpUrl}/healthz`);
    expect(health.status).toBe(200);
    // the gateway signs with that key: its verifier key (C2SP vkey: name+hash+base64(0x01 || public key)) holds it
    const trust = (await (await fetch(`${gw.httpUrl}/v1/trust`)).json()) as { checkpointKeys: { key: string }[] };
    const served = trust.checkpointKeys.map((k) => Buffer.from(k.key.split('+').slice(2).join('+'), 'base64').subarray(1).toString('hex'));
    expect(served).toContain(key.publicKey);
  }, 60_000);
});
