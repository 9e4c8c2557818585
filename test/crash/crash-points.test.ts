/** The test-only crash hook is off unless set, and a malformed setting stops the start like any bad config. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, test } from 'vitest';
import { CRASH_ENV, crashPlanFromEnv } from '../../gateway/crash-points.js';
import { ConfigError } from '../../gateway/config.js';

describe(`${CRASH_ENV} (test-only fault injection)`, () => {
  test('unset or empty: no plan; <point>:<n>: that plan', () => {
    expect(crashPlanFromEnv({})).toBeNull();
    expect(crashPlanFromEnv({ [CRASH_ENV]: '' })).toBeNull();
    expect(crashPlanFromEnv({ [CRASH_ENV]: 'after-block-write:12' })).toEqual({ point: 'after-block-write', nth: 12 });
  });

  test.each(['after-block-write', 'nowhere:3', 'before-receipt:0', 'before-receipt:-1', 'checkpoint-sign:1:2'])('%j is refused', (value) => {
    expect(() => crashPlanFromEnv({ [CRASH_ENV]: value })).toThrow(ConfigError);
  });

  test('the gateway CLI refuses to start with a malformed value (exit 2, names the variable)', () => {
    const r = spawnSync(process.execPath, [join(process.cwd(), 'dist/cli/main.js'), 'gateway'], {
      env: { ...process.env, [CRASH_ENV]: 'sometimes', ORIGINPROOF_DATA_DIR: join(tmpdir(), 'op-never'), ORIGINPROOF_HTTP_PORT: '0', ORIGINPROOF_MQTT_PORT: '0' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(CRASH_ENV);
  });
});
