/**
 * A whole checkpoint key rotation, as an operator runs it (README "Checkpoint key rotation"): `ledger announce-key`,
 * a restart (the gateway's checkpoints name the next key, cosigned: its devices keep it), then, gateway stopped,
 * `ledger rotate-key` and a start: the gateway signs with the new key, a device that followed the announcement takes
 * its receipts without a pause, every entry of both keys verifies offline with GET /v1/trust, and `ledger verify`
 * passes. Refused with their codes (exit 2, nothing written): no next key, a next key the log has not announced yet.
 * A rotation cut short after the log recorded it (the key files not moved): the start is refused saying to finish it,
 * withdraw-key refuses to remove the next key (the log's key by then), and rotate-key again finishes it. Real gateway (in process), device-sim over MQTT, the built CLI (dist/).
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { formatVerifierKey } from '../../protocol/checkpoint.js';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { deviceFrom, onboardDevice, type Device } from '../../device-sim/index.js';
import { NEXT_CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-next-key.js';
import { CHECKPOINT_KEY_FILE, loadOrCreateCheckpointKey } from '../../gateway/checkpoint-key.js';
import { ConfigError } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';
import { Ledger } from '../../ledger/ledger.js';
import { loadNextCheckpointKey } from '../../gateway/checkpoint-next-key.js';
import { rotateCheckpointKey } from '../../gateway/checkpoint-rotate.js';
import { decodeBlockHeader } from '../../protocol/bundle.js';
import { startSimGateway, type SimGateway } from '../sim/helpers.js';
import { unverifiableEntries, type TestGateway } from '../gateway/harness.js';
import { cliSandbox } from './cli-sandbox.js';

const { p, cli, cliAsync } = cliSandbox('op-cli-rotate-');
const ORIGIN = 'originproof.local/log';

/** A gateway with one device-sim device whose receipts are checked with the gateway's key; the next key announced and logged. */
async function announced(): Promise<{ t: SimGateway; d: Device; data: string; lines: string[] }> {
  const t = await startSimGateway();
  const data = join(t.dir, 'data');
  const lines: string[] = [];
  const d = deviceFrom(await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', dir: p(`dev-${Math.random().toString(36).slice(2)}`) }), { reconnectMinMs: 20, reconnectMaxMs: 100, log: (l) => lines.push(l) });
  await d.connect();
  await d.nextReceipt((await d.sendReading())!);
  await t.restart(true, async () => {
    // nothing announced: refused, nothing written
    const none = cli('ledger', 'rotate-key', '--data-dir', data);
    expect([none.code, none.out]).toEqual([2, expect.stringMatching(/\[CHECKPOINT_KEY_MISSING\]/)]);
    expect(cli('ledger', 'announce-key', '--data-dir', data).code).toBe(0);
    // announced in the files, not yet in the log (no checkpoint names it): refused
    const early = cli('ledger', 'rotate-key', '--data-dir', data);
    expect([early.code, early.out]).toEqual([2, expect.stringMatching(/\[CHECKPOINT_INVALID\]/)]);
    expect(existsSync(join(data, NEXT_CHECKPOINT_KEY_FILE))).toBe(true);
  });
  await d.nextReceipt((await d.sendReading())!); // its checkpoint names the next key: the device keeps it
  expect(d.checkpointKeys?.next).not.toBeNull();
  return { t, d, data, lines };
}

describe('originproof ledger rotate-key', () => {
  test('announce, restart, rotate, start: devices follow without a pause; both keys\' entries verify; ledger verify passes', async () => {
    const { t, d, data } = await announced();
    const next = d.checkpointKeys!.next!;
    let rotated = '';
    await t.restart(true, async () => {
      const r = cli('ledger', 'rotate-key', '--data-dir', data);
      expect(r.code, r.out).toBe(0);
      rotated = r.out;
    });
    expect(rotated).toContain(next);
    expect(rotated).toMatch(/^next key heard by 1 of 1 active devices/); // the device had a receipt naming it: no refusal
    expect(t.gw.checkpointVerifierKey).toBe(next);
    expect(existsSync(join(data, NEXT_CHECKPOINT_KEY_FILE))).toBe(false);
    // the device switches at its first receipt of the new key alone
    await d.nextReceipt((await d.sendReading())!);
    expect(d.checkpointKeys).toEqual({ current: next, next: null });
    expect(d.stats.receiptInvalid).toBe(0);
    expect(await unverifiableEntries(t as unknown as TestGateway)).toMatchObject({ bad: [] });
    // a verifier takes its trust file again (the CLI run without blocking: the gateway answers it in this process): the log's keys with their windows, and the first entry's bundle verifies
    const rootCert = p(`root-${Date.now()}.cert`);
    await writeFile(rootCert, t.root.cert.bytes);
    const trustFile = p(`trust-${Date.now()}.json`);
    const trusted = await cliAsync('trust', '--root', rootCert, '--gateway', t.gw.httpUrl, '--out', trustFile);
    expect(trusted.code, trusted.out).toBe(0);
    const keys = (JSON.parse(await readFile(trustFile, 'utf8')) as { checkpointKeys: { key: string; notBefore?: number; notAfter?: number }[] }).checkpointKeys;
    expect(keys.map((k) => [k.key === next, k.notBefore !== undefined, k.notAfter !== undefined])).toEqual([[false, false, true], [true, true, false]]);
    for (const entry of ['0', String(t.gw.ledger.size() - 1)]) {
      const bundle = p(`bundle-${entry}-${Date.now()}.cbor`);
      expect((await cliAsync('fetch-bundle', '--gateway', t.gw.httpUrl, '--entry', entry, '--out', bundle)).code).toBe(0);
      const v = cli('verify', bundle, '--trust', trustFile);
      expect([entry, v.code], v.out).toEqual([entry, 0]);
    }
    await d.close();
    await t.gw.close();
    const verified = cli('ledger', 'verify', '--data', data);
    expect(verified.code, verified.out).toBe(0);
    // with the new key trusted: the retired key's part is vouched for by the switch's checkpoint, cosigned by the new key
    const withKey = cli('ledger', 'verify', '--data', data, '--key', next);
    expect(withKey.code, withKey.out).toBe(0);
    await rm(t.dir, { recursive: true, force: true });
  }, 60_000);

  test('rotated twice (A -> B -> C): the device follows both switches; every entry verifies with the trust file; ledger verify --key C passes', async () => {
    const { t, d, data } = await announced();
    const [a, b] = [d.checkpointKeys!.current, d.checkpointKeys!.next!];
    await t.restart(true, async () => {
      expect(cli('ledger', 'rotate-key', '--data-dir', data).code).toBe(0);
      // C announced at once, logged by the gateway under B
      expect(cli('ledger', 'announce-key', '--data-dir', data).code).toBe(0);
    });
    await d.nextReceipt((await d.sendReading())!);
    const c = d.checkpointKeys!.next!;
    expect([d.checkpointKeys!.current, [a, b].includes(c)]).toEqual([b, false]);
    await t.restart(true, async () => {
      const r = cli('ledger', 'rotate-key', '--data-dir', data);
      expect(r.code, r.out).toBe(0);
    });
    expect(t.gw.checkpointVerifierKey).toBe(c);
    await d.nextReceipt((await d.sendReading())!);
    expect(d.checkpointKeys).toEqual({ current: c, next: null });
    expect(d.stats.receiptInvalid).toBe(0);
    // both retired key files kept, each its own
    const retired = readdirSync(data).filter((f) => f.startsWith('gateway-checkpoint.key.retired-'));
    expect(retired).toHaveLength(2);
    // GET /v1/log: A until the first switch, B between, C from the second
    const log = (await t.gw.app.inject({ url: '/v1/log' })).json() as { checkpointKeys: { key: string; notBefore?: number; notAfter?: number }[] };
    expect(log.checkpointKeys.map((k) => k.key)).toEqual([a, b, c]);
    expect([log.checkpointKeys[0]!.notBefore, log.checkpointKeys[2]!.notAfter]).toEqual([undefined, undefined]);
    expect(log.checkpointKeys[1]!.notBefore! <= log.checkpointKeys[0]!.notAfter! && log.checkpointKeys[2]!.notBefore! <= log.checkpointKeys[1]!.notAfter!).toBe(true);
    expect(await unverifiableEntries(t as unknown as TestGateway)).toMatchObject({ bad: [] });
    await d.close();
    await t.gw.close();
    for (const key of [[], ['--key', c]]) {
      const v = cli('ledger', 'verify', '--data', data, ...key);
      expect([key.length, v.code], v.out).toEqual([key.length, 0]);
    }
    await rm(t.dir, { recursive: true, force: true });
  }, 90_000);

  test("rotated where the clock is behind the log's last block: the retired key's window still covers its blocks", async () => {
    const { t, d, data } = await announced();
    const behindMs = Date.now() - 600_000; // ten minutes behind the gateway's clock (another host, a clock not yet corrected)
    let retiredAtMs = 0;
    await t.restart(true, async () => {
      retiredAtMs = (await rotateCheckpointKey(data, ORIGIN, behindMs)).retired!.retiredAtMs;
    });
    const last = t.gw.ledger.ledger;
    expect(retiredAtMs).toBeGreaterThanOrEqual(decodeBlockHeader((await last.proofBundle(last.retiredKeys[0]!.lastTreeSize - 1)).blockHeader).timeMs);
    await d.nextReceipt((await d.sendReading())!);
    // every entry verifies with GET /v1/trust: the old key's blocks from before the announcement, signed by it alone,
    // were dated after its window's end
    expect(await unverifiableEntries(t as unknown as TestGateway)).toMatchObject({ bad: [] });
    await d.close();
    await t.gw.close();
    await rm(t.dir, { recursive: true, force: true });
  }, 60_000);

  test('a rotation cut short after the log recorded it: the start says to finish it; rotate-key again finishes it, and again says so', async () => {
    const { t, d, data } = await announced();
    await d.close();
    await t.gw.close();
    // what rotate-key's first step does, alone (a crash before the key files moved)
    const current = await loadOrCreateCheckpointKey(data);
    const nextKey = (await loadNextCheckpointKey(data, current))!;
    await Ledger.rotateKey({ dir: join(data, 'ledger'), origin: ORIGIN, signer: { name: ORIGIN, publicKey: current.signer.publicKey }, next: { name: ORIGIN, publicKey: nextKey.signer.publicKey } });
    const opts = { dataDir: data, host: '127.0.0.1', httpPort: 0, mqttPort: 0, trustFile: join(t.dir, 'trust.json'), logLevel: 'silent', verifyWorkers: 1 };
    const refused = await startGateway(opts).then(async (g) => (await g.close(), null), (e: unknown) => e);
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).code).toBe('CHECKPOINT_KEY_MISMATCH');
    expect((refused as Error).message).toMatch(/rotate-key .* again to finish it/);
    // the next key file is the log's key now: withdraw-key refuses to remove it (it deleted the log's only key)
    const withdraw = cli('ledger', 'withdraw-key', '--data-dir', data);
    expect([withdraw.code, withdraw.out]).toEqual([2, expect.stringMatching(/\[CHECKPOINT_KEY_MISMATCH\]/)]);
    expect(existsSync(join(data, NEXT_CHECKPOINT_KEY_FILE))).toBe(true);
    const finish = cli('ledger', 'rotate-key', '--data-dir', data);
    expect([finish.code, finish.out]).toEqual([0, expect.stringMatching(/finished/)]);
    expect(existsSync(join(data, CHECKPOINT_KEY_FILE))).toBe(true);
    // again, as after a crash past the rename (before its output was seen): finished, not "announce a key first"
    const again = cli('ledger', 'rotate-key', '--data-dir', data);
    expect([again.code, again.out]).toEqual([0, expect.stringMatching(/finished/)]);
    const g = await startGateway(opts);
    expect(g.checkpointVerifierKey).toBe(formatVerifierKey(ORIGIN, nextKey.signer.publicKey));
    await g.close();
    await rm(t.dir, { recursive: true, force: true });
  }, 60_000);
});
