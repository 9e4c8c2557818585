import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelBackend } from '../../ledger/level-backend.js';
import { ledgerContract } from './contract.js';

ledgerContract('LevelDB', {
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'op-ledger-'));
    let current: LevelBackend | undefined = await LevelBackend.open(dir);
    return {
      backend: current,
      reopen: async () => (current = await LevelBackend.open(dir)),
      cleanup: async () => {
        await current?.close().catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
});
