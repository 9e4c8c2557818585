/**
 * A connect token is recorded as used before its CONNACK (gateway/mqtt/connect-token-order.ts): a gateway killed
 * with SIGKILL right after it let a device in does not take the same token again after its restart, though the
 * token is still within its lifetime and dated within the clock skew of the restart.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { createConnectToken } from '../../protocol/index.js';
import { connackCode } from '../gateway/harness.js';
import { cliLedgerVerify, killGateway, newRoot, removeDirs, setUpFleet, spawnGateway, type GatewayProcess } from './harness.js';

describe('connect tokens: used means used, across a SIGKILL', () => {
  const dirs: string[] = [];
  let gw: GatewayProcess | null = null;
  afterAll(async () => {
    await killGateway(gw);
    await removeDirs(dirs);
  });

  test('a token that got CONNACK 0 just before the kill gets CONNACK 4 (REPLAY) after the restart; a fresh token connects', async () => {
    const { root, dir, trustFile } = await newRoot();
    dirs.push(dir);
    const dataDir = join(dir, 'data');
    gw = await spawnGateway({ dataDir, trustFile });
    const { devices } = await setUpFleet(root, gw.httpUrl, 1, join(dir, 'devices'));
    const d = devices[0]!;
    const now = Math.floor(Date.now() / 1000);
    const token = await createConnectToken(d.se, { aud: d.state.gateway.aud, iat: now, exp: now + 300 });
    expect(await connackCode(gw.mqttUrl, d.id, token)).toBe(0);
    await killGateway(gw); // no shutdown: only what was durable before the CONNACK is there
    gw = await spawnGateway({ dataDir, trustFile });
    expect(await connackCode(gw.mqttUrl, d.id, token)).toBe(4);
    const fresh = await createConnectToken(d.se, { aud: d.state.gateway.aud, iat: now + 1, exp: now + 301 });
    expect(await connackCode(gw.mqttUrl, d.id, fresh)).toBe(0);
    // the rows beside the log do not disturb the store's own audit
    await killGateway(gw);
    const cli = cliLedgerVerify(dataDir);
    expect(cli.stdout).toMatch(/^ok: /);
    expect(cli.status).toBe(0);
  }, 60_000);
});
