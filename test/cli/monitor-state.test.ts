/**
 * The monitor's state file belongs to one gateway (cli/commands/monitor-state.ts loadState): used with another
 * `--gateway` its last checkpoint, pinned key and alarms are another log's, and comparing would raise a sticky false
 * alarm. So it is refused before any request (MALFORMED, exit 2, naming both and suggesting a state file of its own);
 * the same gateway spelled with a trailing slash, another case of host or scheme, or its default port is accepted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { monitorOnce } from '../../cli/commands/monitor.js';
import { loadState, sameGateway } from '../../cli/commands/monitor-state.js';

const main = join(process.cwd(), 'dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'op-monitor-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (n: string) => join(dir, n);

// Nothing listens on port 1: a round that got as far as the network would fail UNAVAILABLE instead.
const A = 'http://127.0.0.1:1';
const state = JSON.stringify({
  version: 1, gateway: A, origin: 'a.example/log', history: [{ size: 7, root: 'cm9vdA==', seenAt: '2026-01-01T00:00:00.000Z' }], alarms: [],
  latest: { size: 7, root: 'cm9vdA==', note: 'a.example/log\n7\ncm9vdA==\n', seenAt: '2026-01-01T00:00:00.000Z' },
}, null, 2);
writeFileSync(p('a.json'), state);

describe('a monitor state file is for its own gateway', () => {
  test('another gateway is refused by loadState, naming both and --state', () => {
    const other = 'http://127.0.0.1:2';
    expect(() => loadState(p('a.json'), other)).toThrow(expect.objectContaining({ code: 'MALFORMED' }));
    expect(() => loadState(p('a.json'), other)).toThrow(`${p('a.json')} is the state of gateway ${A}, not of ${other}: give each gateway its own --state file`);
  });

  test('and by a round, before any request, leaving the file as it was', async () => {
    await expect(monitorOnce({ gateway: 'http://localhost:1', statePath: p('a.json') })).rejects.toMatchObject({ code: 'MALFORMED', message: expect.stringMatching(/is the state of gateway/) });
    expect(readFileSync(p('a.json'), 'utf8')).toBe(state);
  });

  test('the built CLI: exit 2, both named, the file kept', () => {
    const r = spawnSync(process.execPath, [main, 'monitor', '--gateway', 'https://127.0.0.1:1', '--state', p('a.json'), '--once'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain(`gateway ${A}, not of https://127.0.0.1:1`);
    expect(r.stderr).toContain('its own --state file');
    expect(readFileSync(p('a.json'), 'utf8')).toBe(state);
  });

  test('the same gateway spelled otherwise is accepted', () => {
    for (const same of [A, `${A}/`, 'HTTP://127.0.0.1:1//']) expect(loadState(p('a.json'), same).latest?.size).toBe(7);
    expect(sameGateway('http://GW.example:80/api/', 'http://gw.example/api')).toBe(true);
    expect(sameGateway('https://gw.example:443', 'https://gw.example/')).toBe(true);
    for (const other of ['http://gw.example:8080', 'https://gw.example', 'http://gw.example/api', 'http://gw2.example']) {
      expect(sameGateway('http://gw.example', other), other).toBe(false);
    }
  });

  test('a state file without a gateway is not a monitor state file', () => {
    writeFileSync(p('nogw.json'), JSON.stringify({ version: 1, history: [], alarms: [] }));
    expect(() => loadState(p('nogw.json'), A)).toThrow(expect.objectContaining({ code: 'MALFORMED', path: 'state', message: expect.stringMatching(/is not a monitor state file/) }));
  });
});
