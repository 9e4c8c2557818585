/**
 * A device's state file (`<id>.json`) that is damaged or hand-edited is refused when it is read (`MALFORMED`, naming
 * the file and the field), never run. Found by review: readState checked `version` and `deviceId` only, so a
 * `seqReserved` of "41" (text) made the sequence counter hand out "411", "4111"... and one missing made it NaN; a
 * `seqBlock` of 0 or text, a `lastTokenIat` of text, a gateway without its MQTT URL went as far as a TypeError or a
 * token no gateway takes. The CLI says `[MALFORMED]`, exit 2, for it and for a fleet.json that is not a manifest.
 * A state file cut short (a crash mid-write on a system that does not keep writes in order) does not parse and is
 * refused the same way.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { cliSandbox } from '../cli/cli-sandbox.js';
import { ed25519NoteSigner, formatVerifierKey } from '../../protocol/index.js';
import { onboardDevice, readState, RootAuthority, SequenceCounter, type DeviceKind } from '../../device-sim/index.js';

const { p, cli } = cliSandbox('op-sim-state-');
const key = ed25519NoteSigner('gw.example/log', new Uint8Array(32).fill(5));

/** A device of a fresh agency, onboarded into `dir` but not registered (no gateway answers at the endpoint). */
async function onboardedUnregistered(agencyId: string, kind: DeviceKind, dir: string) {
  const agency = await (await RootAuthority.create('root.example')).agency(agencyId);
  const o = await onboardDevice(agency, {
    gateway: { httpUrl: 'http://127.0.0.1:1', mqttUrl: 'mqtt://127.0.0.1:1', aud: 'originproof', checkpointVerifierKey: formatVerifierKey(key.name, key.publicKey) },
    kind, dir, register: false,
  });
  return { agency, o };
}

describe('a damaged device state file', async () => {
  const { agency, o } = await onboardedUnregistered('env.example', 'water-meter', p('fleet'));
  const good = JSON.parse(readFileSync(o.statePath!, 'utf8')) as Record<string, unknown>;
  writeFileSync(p('fleet/fleet.json'), JSON.stringify({ version: 1, gateway: good.gateway, agency: { id: agency.id, keyFile: 'none', certFile: 'none', salt: '00' }, devices: [`${o.state.deviceId}.json`] }));
  const damaged = (change: (s: Record<string, unknown>) => void): string => {
    const s = structuredClone(good);
    change(s);
    const path = p(`damaged-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(path, JSON.stringify(s));
    return path;
  };

  test('an intact one is read, and its counter continues above seqReserved', () => {
    expect(new SequenceCounter(readState(o.statePath!), () => undefined).take()).toBe((good.seqReserved as number) + 1);
  });

  test.each([
    ['seqReserved as text', (s: Record<string, unknown>) => void (s.seqReserved = '41'), 'seqReserved'],
    ['seqReserved missing', (s: Record<string, unknown>) => void delete s.seqReserved, 'seqReserved'],
    ['seqReserved a fraction', (s: Record<string, unknown>) => void (s.seqReserved = 4.5), 'seqReserved'],
    ['seqReserved below -1', (s: Record<string, unknown>) => void (s.seqReserved = -7), 'seqReserved'],
    ['seqReserved past 2^53 - 1', (s: Record<string, unknown>) => void (s.seqReserved = 2 ** 60), 'seqReserved'],
    ['seqBlock 0', (s: Record<string, unknown>) => void (s.seqBlock = 0), 'seqBlock'],
    ['seqBlock as text', (s: Record<string, unknown>) => void (s.seqBlock = '100'), 'seqBlock'],
    ['lastTokenIat as text', (s: Record<string, unknown>) => void (s.lastTokenIat = 'yesterday'), 'lastTokenIat'],
    ['gateway missing', (s: Record<string, unknown>) => void delete s.gateway, 'gateway'],
    ['gateway.mqttUrl missing', (s: Record<string, unknown>) => void delete (s.gateway as Record<string, unknown>).mqttUrl, 'gateway.mqttUrl'],
    ['gateway.aud a number', (s: Record<string, unknown>) => void ((s.gateway as Record<string, unknown>).aud = 7), 'gateway.aud'],
    ['gateway.checkpointVerifierKey a number', (s: Record<string, unknown>) => void ((s.gateway as Record<string, unknown>).checkpointVerifierKey = 7), 'gateway.checkpointVerifierKey'],
    ['keyFile missing', (s: Record<string, unknown>) => void delete s.keyFile, 'keyFile'],
    ['firmware not 32 bytes of hex', (s: Record<string, unknown>) => void (s.firmware = 'abc'), 'firmware'],
  ])('%s: MALFORMED, naming the field', (_what, change, field) => {
    const path = damaged(change);
    expect(() => readState(path)).toThrow(expect.objectContaining({ code: 'MALFORMED', message: expect.stringContaining(path) }));
    expect(() => readState(path)).toThrow(new RegExp(`\\b${field.replace('.', '\\.')}\\b`));
  });

  test('cut short: MALFORMED', () => {
    const path = p('cut.json');
    writeFileSync(path, readFileSync(o.statePath!, 'utf8').slice(0, 100));
    expect(() => readState(path)).toThrow(expect.objectContaining({ code: 'MALFORMED' }));
  });

  test('sim run on a fleet with a damaged state file, or a fleet.json that is no manifest: [MALFORMED], exit 2', () => {
    writeFileSync(o.statePath!, JSON.stringify({ ...good, seqReserved: '41' }));
    let r = cli('sim', 'run', '--fleet', 'fleet', '--no-progress', '--duration', '1s');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(/^originproof: \[MALFORMED\] .*seqReserved/);
    mkdirSync(p('other'));
    writeFileSync(p('other/fleet.json'), JSON.stringify({ version: 1, devices: 'all' }));
    r = cli('sim', 'run', '--fleet', 'other', '--no-progress', '--duration', '1s');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(/^originproof: \[MALFORMED\] .*fleet\.json is not a fleet manifest/);
  });
});

// Found by the privacy review: a fingerprint reader's salt was not checked when read: missing, it failed at the first
// reading with a bare Error; too short, every reading with CLAIM_INVALID; not hex, with noble's message. It is the
// agency's secret (SPEC §3), so the refusal names the field and never quotes it.
describe('a fingerprint reader\'s state file with a damaged salt', async () => {
  const { o } = await onboardedUnregistered('psb.example', 'fingerprint-reader', p('readers'));
  const good = JSON.parse(readFileSync(o.statePath!, 'utf8')) as Record<string, unknown>;

  test('an intact one is read', () => {
    expect(readState(o.statePath!).salt).toBe(good.salt);
  });

  test.each([
    ['missing', undefined],
    ['a phrase, not hex', 'our-agency-secret-phrase-2026-do-not-share'],
    ['15 bytes', 'ab'.repeat(15)],
    ['odd hex', 'abc'.repeat(11)],
    ['a number', 1234567890123456],
  ])('salt %s: MALFORMED, naming the field, not quoting it', (_what, salt) => {
    const s = structuredClone(good);
    if (salt === undefined) delete s.salt;
    else s.salt = salt;
    const path = p(`reader-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(path, JSON.stringify(s));
    expect(() => readState(path)).toThrow(expect.objectContaining({ code: 'MALFORMED', path: 'salt' }));
    try {
      readState(path);
    } catch (err) {
      if (salt !== undefined) expect((err as Error).message).not.toContain(String(salt).slice(0, 8));
    }
  });
});
