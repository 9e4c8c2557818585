/** Files `sim onboard` writes: fleet.json grows when a fleet is onboarded again into it; key files are written atomically, 0600. */
import { mkdirSync, readdirSync, statSync, writeFileSync, readFileSync, chmodSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSecureElement, loadFleet, loadSecureElement, MANIFEST_NAME, onboardFleet, runFleet, saveSecureElement } from '../../device-sim/index.js';
import { toHex } from '../../protocol/index.js';
import { simGatewayFixture } from './helpers.js';

describe('onboarding again into the same directory', () => {
  const env = simGatewayFixture('op-sim-files-');

  test('fleet.json keeps the devices onboarded before and adds the new ones; the whole fleet runs', async () => {
    const { t, dir } = env;
    const out = join(dir, 'fleet');
    const fleet = (count: number) => onboardFleet({ gateway: t.endpoint, agency: t.agency, agencyKeyFile: 'unused.key', agencyCertFile: 'unused.cert', count, kinds: ['water-meter'], out });
    const first = await fleet(2);
    const second = await fleet(1);
    expect(second.devices).toHaveLength(3);
    expect(second.devices.slice(0, 2)).toEqual(first.devices);
    const { manifest, devices } = loadFleet(out);
    expect(manifest.devices).toEqual(second.devices);
    expect(devices).toHaveLength(3);
    const s = await runFleet({ devices, rate: 30, durationMs: 600 });
    expect(s.connected).toBe(3);
    expect(s.receipted).toBe(s.sent);
    expect(s.rejected).toEqual({});
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('a fleet.json that is not a manifest is not overwritten', async () => {
    const { t, dir } = env;
    const out = join(dir, 'not-a-fleet');
    mkdirSync(out);
    writeFileSync(join(out, MANIFEST_NAME), '{"something": "else"}\n');
    await expect(onboardFleet({ gateway: t.endpoint, agency: t.agency, agencyKeyFile: 'k', agencyCertFile: 'c', count: 1, kinds: ['water-meter'], out })).rejects.toThrow(/not a fleet manifest/);
    expect(readFileSync(join(out, MANIFEST_NAME), 'utf8')).toBe('{"something": "else"}\n');
    // refused before any device was made or registered: no state or key file beside it
    expect(readdirSync(out)).toEqual([MANIFEST_NAME]);
  });
});

describe('saveSecureElement', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-sim-se-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('writes mode 0600 through a temp file renamed into place, also over an existing file of another mode', () => {
    const path = join(dir, 'a.se.json');
    writeFileSync(path, 'old\n', { mode: 0o644 });
    chmodSync(path, 0o644);
    const se = createSecureElement(-8);
    saveSecureElement(se, path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const loaded = loadSecureElement(path);
    expect(loaded.alg).toBe(se.alg);
    expect(toHex(loaded.publicKey)).toBe(toHex(se.publicKey));
    expect(readdirSync(dir)).toEqual(['a.se.json']);
  });

  test('a save that fails leaves the old key file whole and no temp file behind', () => {
    const path = join(dir, 'b.se.json');
    mkdirSync(path); // the rename onto it fails (EISDIR)
    expect(() => saveSecureElement(createSecureElement(-8), path)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    expect(readdirSync(dir).filter((f) => f.startsWith('b.se.json.'))).toEqual([]);
  });
});
