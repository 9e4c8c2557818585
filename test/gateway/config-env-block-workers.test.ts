/**
 * The block size, block wait and verify workers are set from the environment as every other setting is (flag >
 * variable > default), so `npm start` users need no flags for them. Found by the config review: the three had a flag
 * and no ORIGINPROOF_ variable.
 */
import { describe, expect, test } from 'vitest';
import { DEFAULT_CONFIG, loadConfig } from '../../gateway/config.js';

describe('ORIGINPROOF_BLOCK_MAX_ENTRIES, ORIGINPROOF_BLOCK_MAX_MS, ORIGINPROOF_VERIFY_WORKERS', () => {
  const env = { ORIGINPROOF_BLOCK_MAX_ENTRIES: '250', ORIGINPROOF_BLOCK_MAX_MS: '20', ORIGINPROOF_VERIFY_WORKERS: '3' };

  test('the variables set them', () => {
    const c = loadConfig({}, env);
    expect([c.blockMaxEntries, c.blockMaxMs, c.verifyWorkers]).toEqual([250, 20, 3]);
    expect([250, 20, 3]).not.toEqual([DEFAULT_CONFIG.blockMaxEntries, DEFAULT_CONFIG.blockMaxMs, DEFAULT_CONFIG.verifyWorkers]);
  });

  test('flags win over them', () => {
    const c = loadConfig({ blockMaxEntries: '500', blockMaxMs: '10', verifyWorkers: '1' }, env);
    expect([c.blockMaxEntries, c.blockMaxMs, c.verifyWorkers]).toEqual([500, 10, 1]);
  });
});
