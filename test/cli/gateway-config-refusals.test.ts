/**
 * An operator's typos at `originproof gateway`: a flag or ORIGINPROOF_* variable that does not validate stops the
 * start (exit 2, CONFIG_INVALID) with a message naming the flag or variable they typed, before anything is listened
 * on or written (no data directory made). Every flag and variable is tried, from gateway/config-defaults.ts (FLAGS,
 * ENV_VARS), so that one added later is tried too.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_CONFIG, ENV_VARS, FLAGS } from '../../gateway/config-defaults.js';
import { GatewayConfigSchema, loadConfig, type GatewayConfig } from '../../gateway/config.js';

const main = join(process.cwd(), 'dist/cli/main.js');

/** Two values each setting refuses, different where the setting allows (the first for variables, the second for flags). */
function badValues(key: keyof GatewayConfig): [string, string] {
  const d = DEFAULT_CONFIG[key];
  if (key === 'origin') return ['a b', 'a+b'];
  if (key === 'gatewayId') return ['UPPER', '-dash'];
  if (key === 'trustProxy') return ['x'.repeat(65), 'y'.repeat(65)]; // '*' is refused only once every setting validates
  if (key === 'logLevel') return ['INFO', 'loud'];
  if (key === 'ed25519Library') return ['openssl', 'NODE'];
  if (key === 'httpTls') return ['maybe', 'maybe']; // --https takes no value: only the variable can be wrong
  if (typeof d === 'number' || key.endsWith('Port')) return ['1e3', '0x10'];
  return ['', '']; // names (dataDir, host, the files): only an empty one is refused here
}

function startRefused(args: string[], env: Record<string, string>): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [main, 'gateway', ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 }, (err, _out, stderr) =>
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr: String(stderr) }));
  });
}

/** The problem line of `key` in a CONFIG_INVALID message, or undefined. */
function lineOf(stderr: string, key: string): string | undefined {
  return stderr.split('\n').find((l) => new RegExp(`^  ${key}(/\\d+)?:`).test(l));
}

describe.concurrent('a setting that does not validate names the flag or variable that set it (exit 2, nothing made)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-config-refusals-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('every ORIGINPROOF_ variable set wrong: each named, and no data directory made', async () => {
    const env = Object.fromEntries(Object.entries(ENV_VARS).map(([name, key]) => [name, badValues(key)[0]]));
    const r = await startRefused([], env);
    expect([r.status, r.stderr.startsWith('[CONFIG_INVALID]')], r.stderr).toEqual([2, true]);
    for (const [name, key] of Object.entries(ENV_VARS)) {
      expect(lineOf(r.stderr, key), `${name} (${key}) not named:\n${r.stderr}`).toContain(`(set by ${name})`);
    }
    // a data directory that would be valid, with one bad variable beside it: the start makes nothing
    const data = join(dir, 'never');
    const one = await startRefused([], { ORIGINPROOF_DATA_DIR: data, ORIGINPROOF_MQTT_ACK_HOLD_MS: '-1' });
    expect([one.status, lineOf(one.stderr, 'mqttAckHoldMs'), existsSync(data)], one.stderr).toEqual([2, expect.stringContaining('(set by ORIGINPROOF_MQTT_ACK_HOLD_MS)'), false]);
  });

  test('every flag set wrong, over its variable set wrong too: each named by the flag, with the flag\'s value (flag > env)', async () => {
    const env = Object.fromEntries(Object.entries(ENV_VARS).map(([name, key]) => [name, badValues(key)[0]]));
    const args = Object.entries(FLAGS).flatMap(([key, flag]) => (key === 'httpTls' ? [] : [flag, badValues(key as keyof GatewayConfig)[1]]));
    const r = await startRefused(args, env);
    expect([r.status, r.stderr.startsWith('[CONFIG_INVALID]')], r.stderr).toEqual([2, true]);
    for (const [key, flag] of Object.entries(FLAGS)) {
      if (key === 'httpTls') continue;
      const line = lineOf(r.stderr, key);
      expect(line, `${flag} (${key}) not named:\n${r.stderr}`).toContain(`(set by ${flag})`);
      expect(line).toContain(JSON.stringify(badValues(key as keyof GatewayConfig)[1])); // the flag's value, not the variable's
    }
    // the variables without a flag are still named by their variable
    for (const [name, key] of Object.entries(ENV_VARS).filter(([, k]) => !(k in FLAGS))) {
      expect(lineOf(r.stderr, key), `${name} (${key}) not named:\n${r.stderr}`).toContain(`(set by ${name})`);
    }
  });

  test('settings that clash name the flag and the variable that set each side', async () => {
    const ports = await startRefused(['--http-port', '18999'], { ORIGINPROOF_MQTT_PORT: '18999' });
    expect([ports.status, ports.stderr], ports.stderr).toEqual([2, expect.stringMatching(/^ {2}httpPort, mqttPort: both on port 18999.*\(set by --http-port, ORIGINPROOF_MQTT_PORT\)$/m)]);
    const ws = await startRefused(['--ws-port', '18998'], { ORIGINPROOF_HTTP_PORT: '18998' });
    expect([ws.status, ws.stderr], ws.stderr).toEqual([2, expect.stringMatching(/^ {2}httpPort, wsPort: both on port 18998.*\(set by ORIGINPROOF_HTTP_PORT, --ws-port\)$/m)]);
    const half = await startRefused(['--tls-cert', join(dir, 'cert.pem')], {});
    expect([half.status, half.stderr], half.stderr).toEqual([2, expect.stringMatching(/^ {2}tlsCertFile, tlsKeyFile: give both.*\(set by --tls-cert\)$/m)]);
  });
});

// Found by the config review: these got past the config and stopped the start at the first listen (LISTEN_FAILED,
// "host ... not found"), after the data directory, its checkpoint key and an empty log had been made.
describe.concurrent('a host that is neither an address nor a host name is refused as a setting, before anything is made', () => {
  test.each(['127.0.0.1:8080', '[::1]', ' 127.0.0.1', 'not an address', '999.1.1.1', 'host_name'])('--host %j', async (host) => {
    const dir = await mkdtemp(join(tmpdir(), 'op-config-host-'));
    try {
      const data = join(dir, 'data');
      const r = await startRefused(['--host', host, '--data-dir', data], { ORIGINPROOF_HTTP_PORT: '0', ORIGINPROOF_MQTT_PORT: '0' });
      expect([r.status, r.stderr.startsWith('[CONFIG_INVALID]'), lineOf(r.stderr, 'host'), existsSync(data)], r.stderr).toEqual([2, true, expect.stringContaining('(set by --host)'), false]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  // Found by review: a bad host, trustProxy entry or origin was only told once every other setting validated, so an
  // operator mending one refusal met the next at the next start.
  test('told beside the settings the schema refuses, each naming what set it', () => {
    const problems = (() => {
      try {
        loadConfig({ host: 'not an address', httpPort: 'eighty', origin: 'a b' }, { ORIGINPROOF_TRUST_PROXY: '0.0.0.0/0', ORIGINPROOF_MQTT_PORT: '-0' }, { host: '--host', httpPort: '--http-port', origin: '--origin' });
      } catch (err) {
        expect(err).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID' });
        return (err as Error).message.split('\n').slice(1);
      }
      throw new Error('no refusal');
    })();
    expect(problems.map((l) => /^ {2}(\w+)/.exec(l)?.[1]).sort()).toEqual(['host', 'httpPort', 'mqttPort', 'origin', 'trustProxy']);
    expect(problems.find((l) => l.startsWith('  host:'))).toContain('(set by --host)');
    expect(problems.find((l) => l.startsWith('  trustProxy:'))).toContain('(set by ORIGINPROOF_TRUST_PROXY)');
    // a setting the schema refused is told once, by the schema
    expect(() => loadConfig({ host: 7 }, {})).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.not.stringMatching(/host: .*\n {2}host:/s) }));
  });

  test('addresses and host names are taken', () => {
    for (const host of ['0.0.0.0', '127.0.0.1', '::', '::1', 'fe80::1%lo', 'localhost', 'gw-1.example.org', 'LOCALHOST']) {
      expect(loadConfig({ host }, {}).host).toBe(host);
    }
  });
});

// Found by the config review: writeRateLimit had no maximum (1e20 taken, 2^53 + 1 taken as 2^53), and "-0" was the
// number 0, which passed `minimum: 0`: --http-port -0 listened on any free port.
describe.concurrent('integers past their bounds or not written as one', () => {
  test.each([
    [['--http-port', '-0'], {}, 'httpPort', '--http-port'],
    [[], { ORIGINPROOF_MQTT_PORT: '-0' }, 'mqttPort', 'ORIGINPROOF_MQTT_PORT'],
    [[], { ORIGINPROOF_WRITE_RATE_LIMIT: '99999999999999999999' }, 'writeRateLimit', 'ORIGINPROOF_WRITE_RATE_LIMIT'],
    [[], { ORIGINPROOF_WRITE_RATE_LIMIT: '9007199254740993' }, 'writeRateLimit', 'ORIGINPROOF_WRITE_RATE_LIMIT'],
  ] as const)('%j %j: refused, naming %s (%s)', async (args, env, key, name) => {
    const dir = await mkdtemp(join(tmpdir(), 'op-config-integers-'));
    try {
      // ports 0 and loopback, should one of them start after all
      const base = { ORIGINPROOF_DATA_DIR: join(dir, 'data'), ORIGINPROOF_HOST: '127.0.0.1', ORIGINPROOF_HTTP_PORT: '0', ORIGINPROOF_MQTT_PORT: '0' };
      const r = await startRefused([...args], { ...base, ...env });
      expect([r.status, r.stderr.startsWith('[CONFIG_INVALID]'), lineOf(r.stderr, key), existsSync(join(dir, 'data'))], r.stderr).toEqual([2, true, expect.stringContaining(`(set by ${name})`), false]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('every integer setting has a maximum a double holds exactly (2^53), so a longer number is refused, not rounded', () => {
    for (const [key, schema] of Object.entries(GatewayConfigSchema.properties)) {
      const integers = [schema, ...((schema as { anyOf?: unknown[] }).anyOf ?? [])].filter((s) => (s as { type?: string }).type === 'integer') as { maximum?: number }[];
      for (const s of integers) expect([key, typeof s.maximum === 'number' && s.maximum < 2 ** 53], key).toEqual([key, true]);
    }
  });
});

// Found by the config review: a flag given twice was taken last-wins (`--http-port abc --http-port 0` started, the typo
// unseen), and `--http-port --mqtt-port 0` took "--mqtt-port" as the port and then said only "too many arguments".
describe.concurrent('flags given twice, without their value, or unknown: exit 2 naming the flag, nothing made', () => {
  test.each([
    [['--http-port', 'abc', '--http-port', '0'], '--http-port'],
    [['--data-dir', 'DIR/a', '--data-dir', 'DIR/b'], '--data-dir'],
    [['--http-port', '--mqtt-port', '0'], '--http-port'],
    [['--trust'], '--trust'], // at the end (commander's own refusal)
    [['--htp-port', '0'], '--htp-port'], // unknown (commander's own refusal)
  ])('%j', async (args, flag) => {
    const dir = await mkdtemp(join(tmpdir(), 'op-config-flags-'));
    try {
      const r = await startRefused(args.map((a) => a.replace(/^DIR\//, `${dir}/`)), { ORIGINPROOF_DATA_DIR: join(dir, 'data'), ORIGINPROOF_HOST: '127.0.0.1', ORIGINPROOF_HTTP_PORT: '0', ORIGINPROOF_MQTT_PORT: '0' });
      expect([r.status, r.stderr.split('\n')[0]!.includes(`'${flag}`) && r.stderr.includes(flag), existsSync(join(dir, 'data')), existsSync(join(dir, 'b'))], r.stderr).toEqual([2, true, false, false]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A default as --help writes it, from config-defaults.ts's value alone (not from the CLI's own helper). */
function helpDefault(key: keyof GatewayConfig): string {
  const v = DEFAULT_CONFIG[key];
  if (key === 'verifyWorkers') return `one per core (${String(v)} here)`;
  if (v === null) return key.endsWith('Port') ? 'off' : 'none';
  return v === false ? 'off' : String(v);
}

// Found by the config review: --help gave the variables without their defaults (the settings with no flag had none
// written anywhere in it) and without the flag each stands for, and four flags without theirs.
test('--help gives every flag and every variable with its setting and default, as config-defaults.ts has them', async () => {
  const help = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [main, 'gateway', '--help'], { encoding: 'utf8' }, (err, out) => (err ? reject(err) : resolve(String(out)))));
  // commander wraps an option's description: one entry per option, its lines joined
  const [options = '', variables = ''] = help.split('\nEnvironment variables:\n');
  const entries = options.split(/\n(?= {2}-)/).map((e) => e.replace(/\s+/g, ' ').trim());
  for (const [key, flag] of Object.entries(FLAGS) as [keyof GatewayConfig, string][]) {
    const entry = entries.find((e) => e.startsWith(`${flag} `) || e === flag);
    expect(entry, `${flag} not in --help`).toBeDefined();
    expect(entry, `${flag}: default ${helpDefault(key)}`).toContain(`(default ${helpDefault(key)}`);
  }
  const lines = variables.split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
  for (const [name, key] of Object.entries(ENV_VARS)) {
    const flag = (FLAGS as Partial<Record<keyof GatewayConfig, string>>)[key];
    expect(lines, name).toContain(`${name} ${key}${flag ? ` (${flag})` : ''}, default ${helpDefault(key)}`);
  }
});
