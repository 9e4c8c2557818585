/** The test-only crash hook is off unless set, and a malformed setting stops the start like any bad config. */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Level } from 'level';
import { describe, expect, test } from 'vitest';
import { CRASH_ENV, crashPlanFromEnv, CrashPoints, type CrashPoint } from '../../gateway/crash-points.js';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { ORIGIN, reading, signer } from '../ledger/contract.js';

describe(`${CRASH_ENV} (test-only fault injection)`, () => {
  test('unset or empty: no plan; <point>:<n>: that plan', () => {
    expect(crashPlanFromEnv({})).toBeNull();
    expect(crashPlanFromEnv({ [CRASH_ENV]: '' })).toBeNull();
    expect(crashPlanFromEnv({ [CRASH_ENV]: 'after-block-write:12' })).toEqual({ point: 'after-block-write', nth: 12 });
    expect(crashPlanFromEnv({ [CRASH_ENV]: 'after-segment-write:3' })).toEqual({ point: 'after-segment-write', nth: 3 });
  });

  test.each(['after-block-write', 'nowhere:3', 'before-receipt:0', 'before-receipt:-1', 'checkpoint-sign:1:2'])('%j is refused', (value) => {
    expect(() => crashPlanFromEnv({ [CRASH_ENV]: value })).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID' }));
  });

  test('the gateway CLI refuses to start with a malformed value (exit 2, names the variable)', () => {
    const r = spawnSync(process.execPath, [join(process.cwd(), 'dist/cli/main.js'), 'gateway'], {
      env: { ...process.env, [CRASH_ENV]: 'sometimes', ORIGINPROOF_DATA_DIR: join(tmpdir(), 'op-never'), ORIGINPROOF_HTTP_PORT: '0', ORIGINPROOF_MQTT_PORT: '0' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(CRASH_ENV);
  });

  test.each(['after-segment-write', 'during-block-write'] as const)('%s is reached inside the write: after the segment write, before / after LevelDB gets the batch', async (planned) => {
    const dir = await mkdtemp(join(tmpdir(), 'op-crash-points-'));
    const events: string[] = [];
    // Watch LevelDB's chained batch (not ours): when its write is called, the batch goes to LevelDB's thread.
    const proto = Level.prototype as unknown as { batch: (...a: unknown[]) => unknown };
    const batch = proto.batch;
    proto.batch = function (this: unknown, ...a: unknown[]) {
      const b = batch.apply(this, a) as { write: (...x: unknown[]) => Promise<void> };
      if (a.length === 0) {
        const write = b.write.bind(b);
        b.write = (...x: unknown[]) => (events.push('batch.write'), write(...x));
      }
      return b;
    };
    class Recorder extends CrashPoints {
      override reach(point: CrashPoint): void {
        events.push(point);
      }
    }
    try {
      const crash = new Recorder({ point: planned, nth: 1 });
      const ledger = await Ledger.open({ backend: crash.backend(await LevelBackend.open(dir)), origin: ORIGIN, signer });
      await ledger.appendBlock([reading(0), reading(1)]);
      await ledger.close();
      expect(events).toEqual(['before-block-write', 'after-segment-write', 'batch.write', 'during-block-write', 'after-block-write']);
    } finally {
      proto.batch = batch;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
