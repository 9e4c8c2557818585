/**
 * `sim run` checks its options and its --config file before running (cli/commands/sim.ts): a rate that is not a
 * number > 0, a device count that is not a whole number >= 1, a duration that does not parse or is 0, a config key it
 * does not know or of the wrong type are exit 2 with the option or key named, not a run that "sent 0" and exits 0.
 * With the built CLI, on a fleet of no devices (fleet.json alone), so that no gateway is needed: what gets past the
 * option checks reaches the fleet, which is refused too (exit 2, "lists no devices": a run of no devices measured
 * nothing and reported "sent 0", exit 0), as is a fleet.json that is not a manifest. Each refusal names its code,
 * `[MALFORMED]` (found by the README walk: a bad --duration or config key was a bare message, a bad --rate had it).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';

const main = join(process.cwd(), 'dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'op-sim-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'fleet'));
writeFileSync(join(dir, 'fleet', 'fleet.json'), JSON.stringify({
  version: 1,
  gateway: { httpUrl: 'http://127.0.0.1:1', mqttUrl: 'mqtt://127.0.0.1:1', aud: 'originproof', checkpointVerifierKey: 'unused' },
  agency: { id: 'env.example', keyFile: 'none.key', certFile: 'none.cert', salt: '00' },
  devices: [],
}));

/** The run as a child process, not waited for synchronously: the refusals below are independent and run side by side. */
const run = (...args: string[]): Promise<{ code: number | null; out: string; err: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, [main, 'sim', 'run', '--fleet', 'fleet', '--no-progress', ...args], { cwd: dir, encoding: 'utf8', timeout: 20_000 }, (err, out, errOut) =>
      // as spawnSync's status: null when it was killed (the timeout), not an exit code
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, out, err: errOut }));
  });
let configs = 0;
const withConfig = async (cfg: unknown, ...args: string[]) => {
  const file = `run-${++configs}.json`;
  writeFileSync(join(dir, file), JSON.stringify(cfg));
  return { file, ...(await run('--config', file, ...args)) };
};

const noDevices = /fleet[/\\]fleet\.json lists no devices: onboard some first/;

describe('sim run options', () => {
  test.concurrent('valid options get past the checks to the fleet, which lists no devices: exit 2, nothing run', async () => {
    const r = await run('--rate', '2.5', '--duration', '100ms');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(noDevices);
    expect(r.out).not.toMatch(/sent/);
    const c = await withConfig({ fleet: 'fleet', rate: 5, duration: 0.1, attacks: [], mqtt: 'mqtt://127.0.0.1:1', maxReadingBytes: 4096 });
    expect(c.code, c.err).toBe(2);
    expect(c.err).toMatch(noDevices);
  });

  test.each([
    [{ version: 1, gateway: { mqttUrl: 'mqtt://127.0.0.1:1' }, agency: {}, devices: 'a.json' }],
    [{ version: 1, agency: {}, devices: ['a.json'] }],
    [{ version: 2, gateway: { mqttUrl: 'mqtt://127.0.0.1:1' }, agency: {}, devices: ['a.json'] }],
    [[]],
  ])('a fleet.json that is not a manifest (%j): exit 2 naming it', (manifest) => {
    mkdirSync(join(dir, 'odd'), { recursive: true });
    writeFileSync(join(dir, 'odd', 'fleet.json'), JSON.stringify(manifest));
    const r = spawnSync(process.execPath, [main, 'sim', 'run', '--fleet', 'odd', '--no-progress', '--duration', '100ms'], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/odd[/\\]fleet\.json is not a fleet manifest/);
  });

  test.concurrent.each([
    [['--rate', 'abc'], /\[MALFORMED\] --rate must be a number > 0 \(readings per second\), got abc/],
    [['--rate', '0'], /--rate must be a number > 0/],
    [['--rate', '-5'], /--rate must be a number > 0/],
    [['--rate', '1e3'], /--rate must be a number > 0/],
    [['--rate', ''], /--rate must be a number > 0/],
    [['--devices', 'abc'], /\[MALFORMED\] --devices must be a whole number >= 1, got abc/],
    [['--devices', '0'], /--devices must be a whole number >= 1/],
    [['--devices', '1.5'], /--devices must be a whole number >= 1/],
    [['--duration', 'soon'], /bad duration "soon"/],
    [['--duration', '0'], /--duration must be longer than 0/],
    [['--max-reading-bytes', 'big'], /--max-reading-bytes must be a whole number >= 1/],
  ])('%j: exit 2', async (args, message) => {
    const r = await run(...args, '--duration', args[0] === '--duration' ? args[1]! : '100ms');
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.err).toContain('[MALFORMED] '); // the code, as every usage error of the CLI names it
    expect(r.err).toMatch(message);
    expect(r.out).not.toMatch(/sent/);
  });
});

describe.concurrent('sim run --config', () => {
  test.each([
    [{ attacks: 'tampered' }, /"attacks" must be a list of attack names, not "tampered"/],
    [{ attack: ['tampered'] }, /unknown key "attack" \(known: fleet, devices, rate, duration, attacks, mqtt, gateway, maxReadingBytes\)/],
    [{ rate: '5' }, /"rate" must be a number > 0/],
    [{ rate: 0 }, /"rate" must be a number > 0/],
    [{ devices: 0 }, /"devices" must be an integer >= 1, not 0/],
    [{ devices: 2.5 }, /"devices" must be an integer >= 1/],
    [{ duration: 0 }, /"duration" must be a duration/],
    [{ duration: true }, /"duration" must be a duration/],
    [{ fleet: 3 }, /"fleet" must be a directory/],
    [{ maxReadingBytes: -1 }, /"maxReadingBytes" must be an integer >= 1/],
    [['rate', 5], /is a JSON object/],
    [null, /is a JSON object/],
  ])('%j: exit 2, the file and the key named', async (cfg, message) => {
    const r = await withConfig(cfg, '--duration', '100ms');
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.err).toContain(r.file);
    expect(r.err).toContain('[MALFORMED] ');
    expect(r.err).toMatch(message);
  });

  test('a flag still wins over a valid config value, and is checked itself', async () => {
    const [zero, three] = await Promise.all([withConfig({ rate: 5 }, '--rate', '0', '--duration', '100ms'), withConfig({ rate: 5 }, '--rate', '3', '--duration', '100ms')]);
    expect(zero.code).toBe(2);
    expect(three.err).toMatch(noDevices);
  });
});
