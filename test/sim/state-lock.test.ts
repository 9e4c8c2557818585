/**
 * One device runs in one simulator at a time (device-sim/state-lock.ts). Found by review: two simulators on one fleet
 * directory (two `sim run`s) each continued from the same persisted seqReserved, so both signed readings under the
 * same seqs (the second of each pair answered REPLAY: a reading lost), and compacted each other's outbox log away.
 * Here a second Device on the same state file is refused with CONFLICT, whether in this process or another (a real
 * child process holding it, then killed with SIGKILL: its lock is taken over, as after a crash).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { holdState as holdMonitorState } from '../../cli/commands/monitor-state.js';
import { ed25519NoteSigner, formatVerifierKey } from '../../protocol/index.js';
import { Device, loadFleet, loadSecureElement, onboardDevice, readState, RootAuthority, stateLockPath, type Onboarded } from '../../device-sim/index.js';

const key = ed25519NoteSigner('gw.example/log', new Uint8Array(32).fill(9));

describe('one device, one simulator', () => {
  let dir: string;
  let o: Onboarded;
  const open = () => new Device({ state: readState(o.statePath!), statePath: o.statePath!, se: loadSecureElement(join(dir, o.state.keyFile)), log: () => undefined });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-sim-lock-'));
    const agency = await (await RootAuthority.create('root.example')).agency('env.example');
    o = await onboardDevice(agency, {
      gateway: { httpUrl: 'http://127.0.0.1:1', mqttUrl: 'mqtt://127.0.0.1:1', aud: 'originproof', checkpointVerifierKey: formatVerifierKey(key.name, key.publicKey) },
      kind: 'water-meter', dir, register: false, seqBlock: 1,
    });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('a second device object on the same state file in this process: CONFLICT, until the first is closed', async () => {
    const first = open();
    expect(open).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    await first.close();
    expect(existsSync(stateLockPath(o.statePath!))).toBe(false);
    const second = open();
    await second.close();
    // a device object used again after close() holds the file again
    await expect(second.signOnly()).resolves.toBeDefined();
    expect(open).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    await second.close();
    await open().close();
  });

  test('loadFleet refused on one device (held elsewhere) holds none of the others', async () => {
    const agency = await (await RootAuthority.create('root.example')).agency('env.example');
    const fleetDir = join(dir, 'fleet');
    const gateway = { httpUrl: 'http://127.0.0.1:1', mqttUrl: 'mqtt://127.0.0.1:1', aud: 'originproof', checkpointVerifierKey: formatVerifierKey(key.name, key.publicKey) };
    const members: Onboarded[] = [];
    for (let i = 0; i < 2; i++) members.push(await onboardDevice(agency, { gateway, kind: 'water-meter', dir: fleetDir, register: false }));
    writeFileSync(join(fleetDir, 'fleet.json'), JSON.stringify({ version: 1, gateway, agency: { id: agency.id, keyFile: 'none', certFile: 'none', salt: '00' }, devices: members.map((m) => `${m.state.deviceId}.json`) }));
    const second = members[1]!;
    const holder = new Device({ state: readState(second.statePath!), statePath: second.statePath!, se: second.se, log: () => undefined });
    try {
      expect(() => loadFleet(fleetDir)).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
      await until(() => !existsSync(stateLockPath(members[0]!.statePath!))); // the first device, opened before, lets go
    } finally {
      await holder.close();
    }
    const { devices } = loadFleet(fleetDir); // and the fleet opens once nothing holds it
    await Promise.all(devices.map((d) => d.close()));
  });

  /**
   * Linux: the lock names when its process started (field 22 of /proc/<pid>/stat, ticks since boot, and the boot's
   * id). Found by review: a lock naming a live process id was held whoever had the id, so after a reboot, or once the
   * id was reused, it had to be removed by hand. Here the live process is a spawned `sleep`.
   */
  describe.skipIf(process.platform !== 'linux')('a lock naming a live process id that another process may have now', () => {
    const lock = () => stateLockPath(o.statePath!);
    const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    /** Field 22 of /proc/<pid>/stat, read here on its own (the fields after the last ')' start at field 3). */
    const ticks = (pid: number) => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
    };
    let sleeper: ChildProcess;
    beforeAll(async () => {
      sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
      await new Promise((r) => sleeper.once('spawn', r));
    });
    afterAll(() => void sleeper.kill('SIGKILL'));

    test('the lock a device holds names its process and when it started', async () => {
      const d = open();
      try {
        expect(readFileSync(lock(), 'utf8')).toBe(`${process.pid} ${ticks(process.pid)}@${bootId()}\n`);
      } finally {
        await d.close();
      }
    });

    test.each([
      ['another start', () => `${sleeper.pid} ${Number(ticks(sleeper.pid!)) + 1}@${bootId()}\n`],
      ['its start in an earlier boot', () => `${sleeper.pid} ${ticks(sleeper.pid!)}@00000000-0000-4000-8000-000000000000\n`],
    ])('%s: stale, taken over', async (_what, text) => {
      writeFileSync(lock(), text());
      try {
        const d = open();
        expect(readFileSync(lock(), 'utf8')).toMatch(new RegExp(`^${process.pid} `));
        await d.close();
        expect(existsSync(lock())).toBe(false);
      } finally {
        rmSync(lock(), { force: true });
      }
    });

    test.each([
      ['its start', () => `${sleeper.pid} ${ticks(sleeper.pid!)}@${bootId()}\n`],
      ['no start (a lock written before starts were kept)', () => `${sleeper.pid}\n`],
      ['a start cut short (read while written)', () => `${sleeper.pid} ${ticks(sleeper.pid!)}9`],
    ])('%s: held, CONFLICT naming the process', (_what, text) => {
      writeFileSync(lock(), text());
      try {
        expect(open).toThrow(expect.objectContaining({ code: 'CONFLICT', message: expect.stringContaining(`process ${sleeper.pid}`) }));
      } finally {
        rmSync(lock(), { force: true });
      }
    });

    test("the monitor's state lock: the same rules; its own process id and start are held, as before", () => {
      const state = join(dir, 'monitor-state.json');
      const monitorLock = `${state}.lock`;
      onTestFinished(() => rmSync(monitorLock, { force: true }));
      writeFileSync(monitorLock, `${sleeper.pid} ${ticks(sleeper.pid!)}@${bootId()}\n`);
      expect(() => holdMonitorState(state)).toThrow(expect.objectContaining({ code: 'CONFLICT', message: expect.stringContaining(`process ${sleeper.pid}`) }));
      writeFileSync(monitorLock, `${sleeper.pid} ${Number(ticks(sleeper.pid!)) + 1}@${bootId()}\n`);
      const release = holdMonitorState(state);
      expect(readFileSync(monitorLock, 'utf8')).toBe(`${process.pid} ${ticks(process.pid)}@${bootId()}\n`);
      // Held by this process: a second round of the same process is refused (the monitor does not take its own id as stale).
      expect(() => holdMonitorState(state)).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
      release();
      writeFileSync(monitorLock, `${process.pid}\n`);
      expect(() => holdMonitorState(state)).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
      // This process's id with another start: an earlier process's, taken over.
      writeFileSync(monitorLock, `${process.pid} ${Number(ticks(process.pid)) + 1}@${bootId()}\n`);
      holdMonitorState(state)();
      expect(existsSync(monitorLock)).toBe(false);
    });
  });

  test('held by another process: CONFLICT, and no sequence number is taken; taken over once that process is killed', async () => {
    const deviceSim = pathToFileURL(join(process.cwd(), 'dist/device-sim/index.js')).href;
    const script = `
      const { Device, readState, loadSecureElement } = await import(${JSON.stringify(deviceSim)});
      const path = ${JSON.stringify(o.statePath!)};
      new Device({ state: readState(path), statePath: path, se: loadSecureElement(${JSON.stringify(join(dir, o.state.keyFile))}), log: () => {} });
      process.stdout.write('holding\\n');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => b.toString().includes('holding') && resolve());
        child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
      });
      const before = readState(o.statePath!).seqReserved;
      expect(open).toThrow(expect.objectContaining({ code: 'CONFLICT', message: expect.stringContaining(`process ${child.pid}`) }));
      expect(readState(o.statePath!).seqReserved).toBe(before);
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      const d = open(); // the lock of a process that is gone is taken over
      const { seq } = await d.signOnly();
      expect(seq).toBe(before + 1);
      await d.close();
    } finally {
      child.kill('SIGKILL');
    }
  });
});

async function until(cond: () => boolean, timeoutMs = 2_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !cond(); await new Promise((r) => setTimeout(r, 10))) if (Date.now() > end) throw new Error('timed out');
}
