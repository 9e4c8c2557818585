import { describe, expect, test } from 'vitest';
import { runDemo } from '../../cli/demo.js';

describe('npm run demo', () => {
  test('exits 0: every attack rejected, the revoked device rejected, the bundle verified offline', async () => {
    let out = '';
    const r = await runDemo({ write: (s) => (out += s), durationMs: 4_000, rate: 40, devicesPerKind: 2 });
    expect(r.ok).toBe(true); // the demo's exit code is 0 exactly when this holds
    expect(r.summary.attacks.every((a) => a.got === a.expected)).toBe(true);
    expect(r.revokedRejections).toBeGreaterThan(0);
    expect(r.verdict?.valid).toBe(true);
    expect(r.verdict?.checks.find((c) => c.name === 'signature')?.status).toBe('pass');
    expect(out).toContain('every attack was rejected as expected');
    expect(out).toContain('the proof bundle verified offline');
    expect(out).not.toMatch(/NOT REJECTED|did NOT verify/);
  }, 45_000);
});
