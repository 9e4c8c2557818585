/**
 * A stand-in for a gateway's log routes (same paths and answers as gateway/http/routes), served from a real ledger
 * as of one of its checkpointed sizes, for monitor and verifier tests (GET /v1/revocations honours `treeSize` and
 * `after` as the route does). A view may replace the checkpoint and the revocation list it serves (a lying gateway:
 * the key's holder signs whatever it likes).
 */
import { createServer, type Server } from 'node:http';
import type { Ledger } from '../../ledger/ledger.js';
import { toBase64 } from '../../protocol/bytes.js';
import type { LoggedRevocation } from '../../protocol/revocation-log.js';

export interface View {
  ledger: Ledger;
  size: number;
  /** Served instead of the ledger's checkpoint at `size` (latest, and with the revocation list). */
  checkpoint?: string;
  /** Served instead of the ledger's revocation entries below `size`. */
  revocations?: LoggedRevocation[];
  /** Served with the revocation list instead of `checkpoint`. */
  listCheckpoint?: string;
  /** Most revocation entries per page of GET /v1/revocations (default: all after `after` in one page). */
  pageSize?: number;
  /** Serve GET /v1/revocations from its start whatever `after` asks (a broken gateway). */
  ignoreAfter?: boolean;
  /** Served as the revocation list's `count` instead of the number of entries (a lying gateway). */
  count?: number;
  /** Served as every block's header instead of the ledger's (a lying gateway). */
  blockHeader?: Uint8Array;
  /** Each request's path and query, in order. */
  requests?: string[];
}

export function serve(get: () => View): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    void (async () => {
      const view = get();
      const { ledger: L, size } = view;
      const u = new URL(req.url!, 'http://x');
      view.requests?.push(req.url!);
      const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      const checkpoint = async () => view.checkpoint ?? (await L.checkpoint(size));
      if (u.pathname === '/v1/log') return json(200, { origin: L.origin, size, verifierKey: L.verifierKey, checkpoint: (await checkpoint()) ?? null });
      if (u.pathname === '/v1/checkpoints/latest') return res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(await checkpoint());
      const block = /^\/v1\/blocks\/(\d+)$/.exec(u.pathname);
      if (block) {
        const b = await L.servedBlock(Number(block[1]));
        if (!b || b.header.treeSize > size) return json(404, { code: 'NOT_FOUND', message: `no block ${block[1]}` });
        return json(200, { height: b.header.height, timeMs: b.header.timeMs, treeSize: b.header.treeSize, header: toBase64(view.blockHeader ?? b.bytes) });
      }
      if (u.pathname === '/v1/proofs/consistency') {
        const from = Number(u.searchParams.get('from')), to = Number(u.searchParams.get('to') ?? size);
        if (!(from >= 1 && from <= to && to <= size)) return json(400, { code: 'BAD_REQUEST', message: `need 1 <= from <= to <= ${size}` });
        return json(200, { from, to, proof: (await L.consistencyProof(from, to)).map(toBase64) });
      }
      if (u.pathname === '/v1/revocations') {
        const treeSize = u.searchParams.get('treeSize'), after = u.searchParams.get('after');
        if (treeSize !== null && Number(treeSize) !== size) return json(404, { code: 'NOT_FOUND', message: `no checkpoint at tree size ${treeSize}` });
        const list = view.revocations ?? (await L.revocationLog(size));
        const rest = list.filter((r) => after === null || view.ignoreAfter || r.index > Number(after));
        const shown = rest.slice(0, view.pageSize ?? rest.length);
        return json(200, {
          origin: L.origin, treeSize: size, checkpoint: view.listCheckpoint ?? (await checkpoint()) ?? null, count: view.count ?? list.length,
          revocations: shown.map((r) => ({ index: r.index, revocation: toBase64(r.statement) })),
          next: rest.length > shown.length ? shown[shown.length - 1]!.index : null,
        });
      }
      json(404, { code: 'NOT_FOUND', message: u.pathname });
    })().catch((err: Error) => res.writeHead(500).end(err.message));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })));
}
