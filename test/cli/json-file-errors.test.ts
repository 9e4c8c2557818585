/**
 * A user's JSON file that does not parse is named in the error, exit 2 (device-sim/json-file.ts, re-exported by
 * cli/files.ts): key and public key files, the monitor's state, a `sim run --config`, a simulated device's sealed
 * key `<id>.se.json`, its state file and fleet.json. Not a bare `Unexpected token ...` / `Unexpected end of JSON input`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { cliSandbox } from './cli-sandbox.js';
import { loadPublicKey, loadSigner } from '../../cli/commands/keys.js';
import { loadState } from '../../cli/commands/monitor-state.js';
import { loadFleet } from '../../device-sim/fleet.js';
import { loadSecureElement } from '../../device-sim/secure-element.js';
import { readState } from '../../device-sim/state.js';
import { Agency } from '../../device-sim/agency.js';

const { p, cli } = cliSandbox('op-json-');
writeFileSync(p('bad.key'), '{"alg": "ed25519", secretKey: 00}\n');
writeFileSync(p('empty.json'), '');
writeFileSync(p('bad.json'), '{"devices": 2,}\n');

/** The error names the file and says it is not JSON, with the parser's reason after. */
const namesFile = (file: string) => new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not (a .* \\(not JSON\\)|JSON): `);

describe('with the built CLI: exit 2 and the file named', () => {
  test.each([
    ['cert root --key', ['cert', 'root', '--key', 'bad.key', '--id', 'r.example', '--days', '1', '--out', 'r.cert'], 'bad.key'],
    ['monitor --state (empty)', ['monitor', '--gateway', 'http://127.0.0.1:1', '--state', 'empty.json', '--once'], 'empty.json'],
    ['sim run --config', ['sim', 'run', '--config', 'bad.json', '--no-progress'], 'bad.json'],
    ['sim onboard --agency-key', ['sim', 'onboard', '--gateway', 'http://127.0.0.1:1', '--agency-key', 'bad.key', '--agency-cert', 'x.cert', '--count', '1', '--out', 'fleet'], 'bad.key'],
  ])('%s', (_name, args, file) => {
    const r = cli(...args);
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(namesFile(file));
  });

  test('monitor --trust with a trust file that is not JSON', () => {
    const r = cli('monitor', '--gateway', 'http://127.0.0.1:1', '--state', 'never.json', '--trust', 'bad.json', '--once');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('trust file bad.json is unusable: trust file is not JSON');
  });
});

describe('the loaders', () => {
  test.each([
    ['loadSigner', () => loadSigner(p('bad.key')), 'bad.key'],
    ['loadPublicKey', () => loadPublicKey(p('empty.json')), 'empty.json'],
    ['loadState (monitor)', () => loadState(p('empty.json'), 'http://gw'), 'empty.json'],
    ['loadSecureElement (.se.json)', () => loadSecureElement(p('bad.json')), 'bad.json'],
    ['readState (device state)', () => readState(p('bad.json')), 'bad.json'],
    ['Agency.load', () => Agency.load(p('bad.key'), p('x.cert')), 'bad.key'],
  ])('%s', (_name, load, file) => {
    expect(load).toThrow(namesFile(p(file)));
    expect(load).toThrow(expect.objectContaining({ code: 'MALFORMED' }));
  });

  test('loadFleet (fleet.json)', () => {
    mkdirSync(p('fleet'));
    writeFileSync(p('fleet/fleet.json'), '{');
    expect(() => loadFleet(p('fleet'))).toThrow(namesFile(p('fleet/fleet.json')));
  });
});
