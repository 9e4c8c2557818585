/**
 * `originproof ledger announce-key` / `withdraw-key` (the built CLI, dist/cli/main.js) and the gateway run as its own
 * process on their files: the key announced is printed, named in the start banner and GET /v1/log, and signs the
 * checkpoints beside the log's key; `ledger verify` passes over them; a second announcement, a directory without a
 * key or a log, and a next key file that is not a key are refused with their codes (exit 2).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseNote, toHex } from '../../protocol/index.js';
import { RootAuthority } from '../../device-sim/index.js';
import { NEXT_CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-next-key.js';
import { CLI_MAIN, cliSandbox } from './cli-sandbox.js';
import { readyBanner } from './gateway-process.js';

const { p, cliAsync } = cliSandbox('op-cli-announce-');
const VKEY = /originproof\.local\/log\+[0-9a-f]{8}\+[A-Za-z0-9+/=]{44}/;

/** The gateway as its own process on `dataDir` (ports 0): its banner, its HTTP URL, and a SIGTERM that awaits the exit. */
async function runGateway(dataDir: string, trustFile: string): Promise<{ banner: string; url: string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI_MAIN, 'gateway', '--data-dir', dataDir, '--trust', trustFile, '--host', '127.0.0.1', '--http-port', '0', '--mqtt-port', '0', '--verify-workers', '1', '--log-level', 'warn']);
  const banner = await readyBanner(child);
  const url = /HTTP API\s+(http:\/\/\S+)/.exec(banner)![1]!;
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  return { banner, url, stop: () => (child.kill('SIGTERM'), exited) };
}

/** The gateway's start refused: exit code and stderr. */
function refusedStart(dataDir: string): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_MAIN, 'gateway', '--data-dir', dataDir, '--host', '127.0.0.1', '--http-port', '0', '--mqtt-port', '0', '--verify-workers', '1', '--log-level', 'warn']);
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('close', (code) => resolve({ code, err })); // 'close', not 'exit': stderr read to the end
  });
}

// The two tests have their own directories and gateways (ports 0): they run side by side.
describe.concurrent('originproof ledger announce-key / withdraw-key', () => {
  test('announce, restart: banner, /v1/log and checkpoints name the key; ledger verify passes; again: CONFLICT; withdraw, restart: gone', async () => {
    const root = await RootAuthority.create('root.example');
    const trustFile = p('trust.json');
    await writeFile(trustFile, root.trustJson());
    const dataDir = p('data');
    let gw = await runGateway(dataDir, trustFile);
    const current = /checkpoint key (\S+)/.exec(gw.banner)![1]!;
    expect(gw.banner).not.toMatch(/next key/);
    expect(await gw.stop()).toBe(0);

    const announced = await cliAsync('ledger', 'announce-key', '--data-dir', dataDir);
    expect(announced.code, announced.out).toBe(0);
    const next = VKEY.exec(announced.out)![0];
    expect(next).not.toBe(current);
    expect(announced.out).toMatch(/restart the gateway/i);
    // The next steps as they are run: each names the directory (--data-dir is required).
    expect(announced.out).toContain(`originproof ledger rotate-key --data-dir ${dataDir}`);
    expect(announced.out).toContain(`originproof ledger withdraw-key --data-dir ${dataDir}`);
    expect(existsSync(join(dataDir, NEXT_CHECKPOINT_KEY_FILE))).toBe(true);

    // A second announcement: refused, the announced key printed, the file unchanged.
    const file = await readFile(join(dataDir, NEXT_CHECKPOINT_KEY_FILE), 'utf8');
    const again = await cliAsync('ledger', 'announce-key', '--data-dir', dataDir);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/^originproof: \[CONFLICT\] /);
    expect(again.err).toContain(next);
    expect(await readFile(join(dataDir, NEXT_CHECKPOINT_KEY_FILE), 'utf8')).toBe(file);

    gw = await runGateway(dataDir, trustFile);
    expect(gw.banner).toContain(`next key      ${next}`);
    const log = (await (await fetch(`${gw.url}/v1/log`)).json()) as { verifierKey: string; nextVerifierKey?: string };
    expect([log.verifierKey, log.nextVerifierKey]).toEqual([current, next]);
    await (await root.agency('env.example')).registerSelf(gw.url); // a block, signed by both keys
    const note = await (await fetch(`${gw.url}/v1/checkpoints/latest`)).text();
    const keyId = (vkey: string) => vkey.split('+')[1];
    expect(parseNote(note).signatures.map((s) => toHex(s.keyId))).toEqual([keyId(current), keyId(next)]);
    expect(note).toContain(`\nnext-key ${next}\n`);
    expect(await gw.stop()).toBe(0);

    const verified = await cliAsync('ledger', 'verify', '--data', dataDir);
    expect(verified.code, verified.out).toBe(0);
    expect(verified.out).toMatch(/^ok: /);
    const withKey = await cliAsync('ledger', 'verify', '--data', dataDir, '--key', current);
    expect(withKey.code, withKey.out).toBe(0);
    // --data-dir, as the other ledger commands take it, is the same option; two directories, or none: a usage error.
    const dirSpelling = await cliAsync('ledger', 'verify', '--data-dir', dataDir);
    expect([dirSpelling.code, dirSpelling.out.startsWith('ok: ')]).toEqual([0, true]);
    expect((await cliAsync('ledger', 'verify', '--data', dataDir, '--data-dir', p('elsewhere'))).code).toBe(2);
    const neither = await cliAsync('ledger', 'verify');
    expect([neither.code, /--data/.test(neither.err)]).toEqual([2, true]);

    const withdrawn = await cliAsync('ledger', 'withdraw-key', '--data-dir', dataDir);
    expect(withdrawn.code, withdrawn.out).toBe(0);
    expect(existsSync(join(dataDir, NEXT_CHECKPOINT_KEY_FILE))).toBe(false);
    const none = await cliAsync('ledger', 'withdraw-key', '--data-dir', dataDir);
    expect([none.code, /nothing to withdraw/.test(none.out)]).toEqual([0, true]);
    gw = await runGateway(dataDir, trustFile);
    expect(gw.banner).not.toMatch(/next key/);
    expect('nextVerifierKey' in ((await (await fetch(`${gw.url}/v1/log`)).json()) as object)).toBe(false);
    expect(await gw.stop()).toBe(0);
  }, 90_000);

  test('no key, no log: CHECKPOINT_KEY_MISSING, LEDGER_MISSING (exit 2, nothing made); a next key file that is no key: the start is refused', async () => {
    const trustFile = p('trust-2.json');
    await writeFile(trustFile, (await RootAuthority.create('root.example')).trustJson());
    const empty = p('empty');
    await mkdir(empty);
    const [noKey, noKeyWithdraw] = await Promise.all([cliAsync('ledger', 'announce-key', '--data-dir', empty), cliAsync('ledger', 'withdraw-key', '--data-dir', empty)]);
    expect([noKey.code, noKey.err.split(' ')[1]]).toEqual([2, '[CHECKPOINT_KEY_MISSING]']);
    expect([noKeyWithdraw.code, noKeyWithdraw.err.split(' ')[1]]).toEqual([2, '[CHECKPOINT_KEY_MISSING]']);
    // A key file (from a gateway's first start) without its ledger directory.
    // Two first starts, at once: one's key file left without its ledger, the other's next key file garbled.
    const noLog = p('no-log');
    const garbled = p('garbled');
    await Promise.all([noLog, garbled].map(async (d) => expect(await (await runGateway(d, trustFile)).stop()).toBe(0)));
    await rm(join(noLog, 'ledger'), { recursive: true });
    const missing = await cliAsync('ledger', 'announce-key', '--data-dir', noLog);
    expect([missing.code, missing.err.split(' ')[1]]).toEqual([2, '[LEDGER_MISSING]']);
    expect(existsSync(join(noLog, NEXT_CHECKPOINT_KEY_FILE))).toBe(false);

    await writeFile(join(garbled, NEXT_CHECKPOINT_KEY_FILE), 'not a key');
    const refused = await refusedStart(garbled);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/^\[CHECKPOINT_KEY_UNUSABLE\] /);
    expect(refused.err).toContain(join(garbled, NEXT_CHECKPOINT_KEY_FILE));
  }, 90_000);
});
