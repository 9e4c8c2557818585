/**
 * `monitor --acknowledge` in loop mode (no --once) acknowledges the alarms that stood when the command was given,
 * once: by the first round even when that round cannot reach the gateway (monitorOnce saves the acknowledgement
 * first), and never again by a retry or a later round, so an alarm raised meanwhile stands. A real gateway (port 0,
 * temp dir), stopped and started again on its port for the unreachable round; the rounds are monitorLoop's, the
 * command's own, with a pause that acts between them.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rmSync, writeFileSync } from 'node:fs';
import { loadState, monitorLoop, monitorOnce, UnusableInput } from '../../cli/commands/monitor.js';
import { ed25519NoteSigner, formatVerifierKey } from '../../protocol/checkpoint.js';
import { parseTrustText } from '../../protocol/trust.js';
import { Pki, register, startTestGateway, type TestGateway } from '../gateway/harness.js';

describe('monitor --acknowledge in loop mode', () => {
  let pki: Pki;
  let t: TestGateway;
  let url: string;
  let dir: string;

  /** A real alarm in the state file: a trust file naming another checkpoint key than the gateway's. */
  const raiseAlarm = async (statePath: string) => {
    const other = formatVerifierKey('other.example/log', ed25519NoteSigner('other.example/log', new Uint8Array(32).fill(9)).publicKey);
    const trust = parseTrustText(JSON.stringify({ checkpointKeys: [{ key: other }] }));
    expect(await monitorOnce({ gateway: url, statePath, trust })).toMatchObject({ status: 'alarm', code: 'CHECKPOINT_INVALID' });
  };
  const acknowledged = (statePath: string) => loadState(statePath, url).alarms.map((a) => a.acknowledgedAt !== undefined);

  beforeAll(async () => {
    pki = await Pki.create();
    t = await startTestGateway(pki, { blockMaxMs: 5 });
    url = t.gw.httpUrl;
    await register(t.gw, await pki.agency('psb.example'), []); // a log entry, so there is a checkpoint to follow
    dir = await mkdtemp(join(tmpdir(), 'op-monitor-ack-'));
  });
  afterAll(async () => {
    await t?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('applied by the first round only: an alarm raised after it stands in the next round', async () => {
    const statePath = join(dir, 'up.json');
    await raiseAlarm(statePath);
    let pauses = 0;
    const r = await monitorLoop({ gateway: url, statePath, acknowledge: true }, {
      intervalMs: 0,
      pause: async () => {
        if (++pauses > 1) throw new Error('the alarm raised after the first round was acknowledged by a later one');
        expect(acknowledged(statePath)).toEqual([true]);
        await raiseAlarm(statePath);
      },
    });
    expect(r).toMatchObject({ status: 'alarm', round: 'unchanged', unacknowledged: 1 });
    const alarms = loadState(statePath, url).alarms;
    expect(r.firstUnacknowledged).toEqual(alarms[1]);
    expect(acknowledged(statePath)).toEqual([true, false]);
  });

  test('applied by a first round that cannot reach the gateway, and not again by the retry', async () => {
    const statePath = join(dir, 'down.json');
    await raiseAlarm(statePath);
    const port = Number(new URL(url).port);
    await t.gw.close(); // the gateway down for the first round (its data dir kept)
    let pauses = 0;
    const r = await monitorLoop({ gateway: url, statePath, acknowledge: true }, {
      intervalMs: 0,
      pause: async () => {
        if (++pauses > 1) throw new Error('the alarm raised after the failed first round was acknowledged by the retry');
        // The first round failed (unreachable) after saving the acknowledgement.
        expect(acknowledged(statePath)).toEqual([true]);
        t = await startTestGateway(pki, { blockMaxMs: 5, httpPort: port }, t.dir);
        await raiseAlarm(statePath);
      },
    });
    expect(pauses).toBe(1);
    expect(r).toMatchObject({ status: 'alarm', round: 'first', unacknowledged: 1 });
    expect(r.firstUnacknowledged).toEqual(loadState(statePath, url).alarms[1]);
    expect(acknowledged(statePath)).toEqual([true, false]);
  });

  test('a first round refused because another monitor holds the state file leaves the acknowledgement to the retry', async () => {
    // It was dropped with the failed round (suspected by the verifier-CLI review): the alarm stood after the retry.
    // And the retry takes only what stood when the command was given, not the other monitor's alarm raised since.
    const statePath = join(dir, 'held.json');
    await raiseAlarm(statePath);
    writeFileSync(`${statePath}.lock`, `${process.pid}\n`); // a running process holds it
    let pauses = 0;
    const r = await monitorLoop({ gateway: url, statePath, acknowledge: true }, {
      intervalMs: 0,
      pause: async () => {
        if (++pauses > 1) throw new Error('the retry raised no alarm: it acknowledged the one raised after the command was given');
        expect(acknowledged(statePath)).toEqual([false]); // the refused round read nothing, wrote nothing
        rmSync(`${statePath}.lock`);
        await raiseAlarm(statePath); // the other monitor's round, meanwhile
      },
    });
    expect(r).toMatchObject({ status: 'alarm', unacknowledged: 1 });
    expect(acknowledged(statePath)).toEqual([true, false]);
    expect(r.firstUnacknowledged).toEqual(loadState(statePath, url).alarms[1]);
  });

  test('a trust file with no checkpoint key valid now: unusable input, ending the loop, and no alarm against the gateway', async () => {
    // It was a CHECKPOINT_INVALID alarm, recorded and sticky, each round, for the verifier's own stale configuration.
    const statePath = join(dir, 'expired.json');
    const expired = parseTrustText(JSON.stringify({ checkpointKeys: [{ key: t.gw.checkpointVerifierKey, notAfter: 1 }] }));
    const err = await monitorLoop({ gateway: url, statePath, trust: expired }, {
      intervalMs: 0,
      pause: async () => {
        throw new Error('retried');
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnusableInput);
    expect(err).toMatchObject({ code: 'MALFORMED', path: 'checkpointKeys' });
    expect(loadState(statePath, url).alarms).toEqual([]);
  });
});
