/**
 * `monitor` and a gateway that answers 200 with something that is not JSON where the monitor needs a proof (found by
 * review): a consistency proof, or the revocation list a changed `revocations` line commits to. An error status there
 * was an alarm ("no proof from the gateway"), `{}` too, but a body that did not parse threw out of the round: with
 * --once exit 2 ("unusable input"), in the loop retried forever, never an alarm, so a gateway that could not prove
 * its log extended the last checkpoint (or could not show the revocations it committed to) only had to answer
 * garbage to escape the alarm. Now CONSISTENCY_INVALID and CHECKPOINT_INVALID ("REVOCATIONS: ...") alarms, the last
 * good checkpoint kept.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Ledger } from '../../ledger/ledger.js';
import { ed25519NoteSigner } from '../../protocol/checkpoint.js';
import { loadState, monitorOnce } from '../../cli/commands/monitor.js';
import { ORIGIN, reading, revocation } from '../ledger/contract.js';
import { serve, type View } from './stand-in-gateway.js';

const signer = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(6));

/** In front of the stand-in: a path prefix answered 200 with `body` (as JSON's content type), the rest passed on. */
function front(upstream: () => string, garbled: () => { prefix: string; body: string } | undefined): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    void (async () => {
      const g = garbled();
      if (g && req.url!.startsWith(g.prefix)) return res.writeHead(200, { 'content-type': 'application/json' }).end(g.body);
      const r = await fetch(new URL(req.url!, upstream()));
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' }).end(Buffer.from(await r.arrayBuffer()));
    })().catch((err: Error) => res.writeHead(500).end(err.message));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })));
}

describe('monitor: a 200 answer that is not JSON where a proof is needed', () => {
  let dir: string;
  let L: Ledger;
  let current: View;
  let garble: { prefix: string; body: string } | undefined;
  let inner: { server: Server; url: string };
  let outer: { server: Server; url: string };
  let statePath: string;
  const round = (acknowledge = false) => monitorOnce({ gateway: outer.url, statePath, acknowledge });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-monans-'));
    L = await Ledger.open({ dir: join(dir, 'ledger'), origin: ORIGIN, signer, sync: false });
    await L.appendBlock([reading(0), revocation(1), reading(2)]); // size 3
    current = { ledger: L, size: 3 };
    inner = await serve(() => current);
    outer = await front(() => inner.url, () => garble);
    statePath = join(dir, 'monitor.json');
  });
  afterAll(async () => {
    await new Promise((r) => outer.server.close(r));
    await new Promise((r) => inner.server.close(r));
    await L.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a consistency proof that is an HTML page: CONSISTENCY_INVALID, the last good checkpoint kept', async () => {
    expect(await round()).toMatchObject({ status: 'first' });
    await L.appendBlock([reading(3)]); // size 4, the revocations line unchanged
    current = { ledger: L, size: 4 };
    garble = { prefix: '/v1/proofs/consistency', body: '<!doctype html><p>proof</p>' };
    expect(await round()).toMatchObject({ status: 'alarm', code: 'CONSISTENCY_INVALID', from: 3, to: 4 });
    expect(loadState(statePath, outer.url).latest?.size).toBe(3);
  });

  test('a consistency proof cut short mid-JSON: CONSISTENCY_INVALID', async () => {
    garble = { prefix: '/v1/proofs/consistency', body: '{"from": 3, "to": 4, "proof": ["' };
    expect(await round()).toMatchObject({ status: 'alarm', code: 'CONSISTENCY_INVALID', from: 3, to: 4 });
    garble = undefined;
    expect(await round(true)).toMatchObject({ status: 'grew', from: 3, to: 4 });
  });

  test('a revocation list that is not JSON, when the line changed: CHECKPOINT_INVALID, the last good checkpoint kept', async () => {
    await L.appendBlock([revocation(4), reading(5)]); // size 6, a second revocation: the list is fetched
    current = { ledger: L, size: 6 };
    garble = { prefix: '/v1/revocations', body: 'not json' };
    const r = await round();
    expect(r).toMatchObject({ status: 'alarm', code: 'CHECKPOINT_INVALID', from: 4, to: 6 });
    expect(loadState(statePath, outer.url).latest?.size).toBe(4);
    garble = undefined;
    expect(await round(true)).toMatchObject({ status: 'grew', from: 4, to: 6 });
  });
});
