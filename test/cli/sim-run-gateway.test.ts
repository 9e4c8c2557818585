/**
 * `sim run --gateway URL` (and `gateway` in --config): the HTTP URL the attacks register their own devices at, over the
 * one fleet.json saved at onboarding, as --mqtt overrides the MQTT URL. Found by the README walk: with --mqtt alone,
 * a gateway that had moved got the readings, but every attack failed "fetch failed" at the old HTTP address.
 * A real gateway (port 0, temp dir) and fleet (sim onboard's onboardFleet); the option checks with the built CLI.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadFleet, onboardFleet, runFleet } from '../../device-sim/index.js';
import { startSimGateway, type SimGateway } from '../sim/helpers.js';

const main = join(process.cwd(), 'dist/cli/main.js');

describe('sim run --gateway', () => {
  let t: SimGateway;
  let dir: string;
  let fleet: string;
  beforeAll(async () => {
    t = await startSimGateway();
    dir = await mkdtemp(join(tmpdir(), 'op-sim-run-gw-'));
    fleet = join(dir, 'fleet');
    await onboardFleet({ gateway: t.endpoint, agency: t.agency, agencyKeyFile: 'unused.key', agencyCertFile: 'unused.cert', count: 1, kinds: ['temperature-sensor'], out: fleet });
    // The gateway's HTTP API has moved since onboarding: nothing listens at the saved address.
    const manifest = JSON.parse(readFileSync(join(fleet, 'fleet.json'), 'utf8')) as { gateway: { httpUrl: string } };
    manifest.gateway.httpUrl = 'http://127.0.0.1:1';
    writeFileSync(join(fleet, 'fleet.json'), JSON.stringify(manifest));
  });
  afterAll(async () => {
    await t?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the attacks register their devices at the URL given, not the one saved at onboarding', async () => {
    const moved = loadFleet(fleet, { httpUrl: t.gw.httpUrl });
    expect(moved.manifest.gateway.httpUrl).toBe(t.gw.httpUrl);
    const run = (f: ReturnType<typeof loadFleet>) => runFleet({ devices: f.devices, rate: 5, durationMs: 300, attacks: ['revoked'], agency: t.agency, gateway: f.manifest.gateway, attackTimeoutMs: 5_000 });
    const s = await run(moved);
    expect(s.attacks).toMatchObject([{ name: 'revoked', ok: true, got: 'CERT_REVOKED' }]);
    expect(s.attacksOk).toBe(true);
    const stale = await run(loadFleet(fleet)); // the saved address: the attack cannot register its device
    expect(stale.attacksOk).toBe(false);
  });

  test("the run's addresses are not written to the devices' state files: a later run uses the onboarded ones again", async () => {
    // Found by the third README walk: one `sim run --mqtt --gateway` against a gateway on other ports moved the
    // devices it ran for good (their state files kept the overrides), and every later run of the fleet had
    // "4 of 24 devices could not connect". Here the saved MQTT address is dead and the run's override is the live one.
    const deviceFile = (JSON.parse(readFileSync(join(fleet, 'fleet.json'), 'utf8')) as { devices: string[] }).devices[0]!;
    const saved = () => (JSON.parse(readFileSync(join(fleet, deviceFile), 'utf8')) as { gateway: { mqttUrl: string; httpUrl: string } }).gateway;
    const state = JSON.parse(readFileSync(join(fleet, deviceFile), 'utf8')) as { gateway: { mqttUrl: string; httpUrl: string } };
    state.gateway.mqttUrl = 'mqtt://127.0.0.1:1';
    state.gateway.httpUrl = 'http://127.0.0.1:1';
    writeFileSync(join(fleet, deviceFile), JSON.stringify(state));
    const f = loadFleet(fleet, { mqttUrl: t.endpoint.mqttUrl, httpUrl: t.gw.httpUrl });
    const s = await runFleet({ devices: f.devices, rate: 10, durationMs: 500, agency: t.agency, gateway: f.manifest.gateway });
    expect(s.connected).toBe(1);
    expect(s.receipted).toBeGreaterThan(0); // the state file was written during the run (seqs, tokens, checkpoints)
    expect(saved()).toMatchObject({ mqttUrl: 'mqtt://127.0.0.1:1', httpUrl: 'http://127.0.0.1:1' });
  });

  test('the option and the config key are taken (the run gets to the fleet), and must be a URL string in the config', () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, [main, 'sim', 'run', '--fleet', fleet, '--no-progress', '--devices', '2', ...args], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
    // --devices 2 of a fleet of 1: refused at the fleet, past the option checks (before: "unknown option '--gateway'").
    const flag = cli('--gateway', t.gw.httpUrl);
    expect(flag.status, flag.stderr).toBe(2);
    expect(flag.stderr).toMatch(/holds 1 devices; onboard more to run 2/);
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ gateway: t.gw.httpUrl }));
    const cfg = cli('--config', 'run.json');
    expect(cfg.stderr).toMatch(/holds 1 devices; onboard more to run 2/);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ gateway: 8080 }));
    expect(cli('--config', 'bad.json').stderr).toMatch(/"gateway" must be a URL \(string\)/);
  });
});
