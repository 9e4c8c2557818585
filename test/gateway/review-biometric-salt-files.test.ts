/**
 * Review of the biometric privacy rule: the agency's salt is all that keeps a subject commitment, SHA-256(salt ||
 * subject id), from being undone by trying every id number (SPEC §3). Found by review: device-sim wrote it into each
 * fingerprint reader's state file and into fleet.json with the default mode (0644 under the usual umask), readable
 * by every local user, beside the device key it keeps 0600. Both are now written 0600, atomically, like the key.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MANIFEST_NAME, onboardFleet } from '../../device-sim/index.js';
import { toHex } from '../../protocol/index.js';
import { startSimGateway, type SimGateway } from '../sim/helpers.js';

describe('files holding the salt for subject commitments', () => {
  let t: SimGateway;
  let dir: string;
  beforeAll(async () => {
    t = await startSimGateway();
    dir = await mkdtemp(join(tmpdir(), 'op-bio-salt-'));
  });
  afterAll(async () => {
    await t?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('a fingerprint reader\'s state file and fleet.json are readable by their owner only', async () => {
    const out = join(dir, 'fleet');
    const manifest = await onboardFleet({ gateway: t.endpoint, agency: t.agency, agencyKeyFile: 'unused.key', agencyCertFile: 'unused.cert', count: 1, kinds: ['fingerprint-reader'], out });
    const salt = toHex(t.agency.salt);
    const files = [MANIFEST_NAME, ...manifest.devices];
    for (const f of files) {
      const path = join(out, f);
      expect(readFileSync(path, 'utf8')).toContain(salt);
      expect((statSync(path).mode & 0o077).toString(8)).toBe('0');
    }
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
