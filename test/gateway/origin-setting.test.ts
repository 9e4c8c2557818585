/**
 * The `origin` setting is the checkpoint note's first line and its key's name (C2SP signed-note): what either refuses
 * must be refused as a setting (CONFIG_INVALID), before anything is opened. Found by review: the setting's pattern
 * (no JS \s, no '+') let through a control character, which the note's text refuses (the gateway started, said
 * ready, and every block then failed to be signed: no reading was ever logged), and a Unicode space JS's \s does not
 * hold (U+0085) or a lone surrogate, which the key name refuses (the start failed with the protocol's
 * CHECKPOINT_INVALID, no start code).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { ConfigError, loadConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const BAD = ['gw\u0001log', 'gw.example/\u001f', 'gw\u0085log', 'gw\ud800log', 'gw\u2029log'];

async function startCode(origin: string): Promise<{ code: string; size?: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'op-origin-'));
  dirs.push(dir);
  let gw;
  try {
    gw = await startGateway({ dataDir: dir, origin, httpPort: 0, mqttPort: 0, verifyWorkers: 0, logLevel: 'silent' });
  } catch (err) {
    return { code: err instanceof ConfigError ? err.code : `${(err as Error).name} ${(err as { code?: string }).code}` };
  }
  try {
    // A started gateway must be able to log: one block, signed with the origin as its first line and key name.
    await gw.ledger.appendRegistryEvent(2, new Uint8Array([1]), undefined);
    return { code: 'STARTED', size: gw.ledger.size() };
  } finally {
    await gw.close();
  }
}

describe('the origin setting', () => {
  test('a control character, a Unicode space or a lone surrogate: CONFIG_INVALID, from loadConfig and at start', async () => {
    for (const origin of BAD) {
      let code: string | undefined;
      try {
        loadConfig({ origin }, {});
      } catch (err) {
        code = (err as ConfigError).code;
      }
      expect([origin, code]).toEqual([origin, 'CONFIG_INVALID']);
      expect([origin, (await startCode(origin)).code]).toEqual([origin, 'CONFIG_INVALID']);
    }
  }, 60_000);

  test('an origin the setting takes signs its blocks (non-ASCII letters, a DEL)', async () => {
    for (const origin of ['gw.example/log', 'g\u00e9w\u20ac/\u65e5\u672c', 'gw\u007flog']) {
      expect([origin, await startCode(origin)]).toEqual([origin, { code: 'STARTED', size: 1 }]);
    }
  }, 60_000);
});
