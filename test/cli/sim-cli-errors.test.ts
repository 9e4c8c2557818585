/**
 * `sim onboard` and `sim run` refuse unusable input with its code, `[MALFORMED]`, exit 2, as the CLI's other usage
 * errors do, and check their flags before reading files or asking the gateway. Found by review: `--alg rsa`, a fleet
 * listing no devices or fewer than `--devices`, a sealed key file that holds no key and `--attack` without the
 * agency's files were bare messages; `--alg`, `--kind` and `--count` were checked only after the agency's files were
 * read and the gateway asked (`sim onboard --alg rsa` with the gateway down said "fetch failed").
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { cliSandbox } from './cli-sandbox.js';
import { ed25519NoteSigner, formatVerifierKey } from '../../protocol/index.js';
import { onboardDevice, RootAuthority } from '../../device-sim/index.js';

const { p, cli } = cliSandbox('op-sim-cli-');
const key = ed25519NoteSigner('gw.example/log', new Uint8Array(32).fill(4));
const gateway = { httpUrl: 'http://127.0.0.1:1', mqttUrl: 'mqtt://127.0.0.1:1', aud: 'originproof', checkpointVerifierKey: formatVerifierKey(key.name, key.publicKey) };

/** A fleet directory of `devices` onboarded offline (no gateway), its agency files named but absent. */
async function fleet(name: string, devices: number): Promise<string[]> {
  const agency = await (await RootAuthority.create('root.example')).agency('env.example');
  const files: string[] = [];
  for (let i = 0; i < devices; i++) files.push(`${(await onboardDevice(agency, { gateway, kind: 'water-meter', dir: p(name), register: false })).state.deviceId}.json`);
  mkdirSync(p(name), { recursive: true });
  writeFileSync(p(`${name}/fleet.json`), JSON.stringify({ version: 1, gateway, agency: { id: agency.id, keyFile: p('gone.key'), certFile: p('gone.cert'), salt: '00' }, devices: files }));
  return files;
}

const refused = (r: { code: number | null; err: string }, message: RegExp) => {
  expect(r.code, r.err).toBe(2);
  expect(r.err).toMatch(/^originproof: \[MALFORMED\] /);
  expect(r.err).toMatch(message);
};

describe('sim onboard: flags checked first, [MALFORMED]', () => {
  const onboard = (...extra: string[]) => cli('sim', 'onboard', '--gateway', 'http://127.0.0.1:1', '--agency-key', 'gone.key', '--agency-cert', 'gone.cert', '--count', '1', '--out', 'fleet', ...extra);
  test.each([
    [['--alg', 'rsa'], /unknown algorithm rsa \(ed25519 or es256\)/],
    [['--kind', 'toaster'], /unknown kind toaster/],
    [['--count', '0'], /--count must be a positive integer/],
  ])('%j', (extra, message) => refused(onboard(...extra), message));
});

describe('sim run: the fleet', () => {
  test('listing no devices, or fewer than --devices: [MALFORMED]', async () => {
    await fleet('none', 0);
    refused(cli('sim', 'run', '--fleet', 'none', '--no-progress', '--duration', '100ms'), /none[/\\]fleet\.json lists no devices/);
    await fleet('one', 1);
    refused(cli('sim', 'run', '--fleet', 'one', '--devices', '3', '--no-progress', '--duration', '100ms'), /one holds 1 devices; onboard more to run 3/);
  });

  test('a sealed key file that holds no key: [MALFORMED], naming it', async () => {
    const [file] = await fleet('nokey', 1);
    const state = JSON.parse(readFileSync(p(`nokey/${file}`), 'utf8')) as { keyFile: string };
    writeFileSync(p(`nokey/${state.keyFile}`), JSON.stringify({ backend: 'node', alg: -8 }));
    refused(cli('sim', 'run', '--fleet', 'nokey', '--no-progress', '--duration', '100ms'), new RegExp(`${state.keyFile.replace(/\./g, '\\.')}: holds no key`));
    writeFileSync(p(`nokey/${state.keyFile}`), JSON.stringify({ backend: 'node', alg: -7000, pkcs8: 'AA' }));
    refused(cli('sim', 'run', '--fleet', 'nokey', '--no-progress', '--duration', '100ms'), /unknown alg -7000/);
  });

  test("--attack without the agency's key and certificate: [MALFORMED]", async () => {
    await fleet('noagency', 1);
    refused(cli('sim', 'run', '--fleet', 'noagency', '--attack', 'tampered', '--no-progress', '--duration', '100ms'), /attacks need the agency key and certificate named in noagency[/\\]fleet\.json/);
  });
});
