/**
 * Small read routes for the verifier web page's Explore view and its trust panel: the trust material this
 * gateway uses (in the trust-file format, so a verifier can save and pin it), the latest block headers, a
 * device's latest readings, and rejected-reading counts by code. Nothing here is trusted by the page's
 * verification: it checks bundles against trust anchors it shows, and a verifier may load its own.
 */
import { Type } from '@sinclair/typebox';
import { algName } from '../../../protocol/algorithms.js';
import { toHex } from '../../../protocol/bytes.js';
import { formatVerifierKey } from '../../../protocol/checkpoint.js';
import type { TrustMaterial } from '../../../protocol/trust.js';
import type { GatewayLedger } from '../../ledger-adapter.js';
import type { GatewayMetrics } from '../../metrics.js';
import type { Registry } from '../../registry.js';
import { trustWithLogKeys } from '../../trust-with-log-keys.js';
import type { HttpApp } from '../app.js';
import { ApiError } from '../error-registry.js';
import { DeviceIdParam, readErrors, SafeUint } from '../schemas.js';
import { entryView, EntryView } from './records.js';

export interface ExploreRouteDeps {
  ledger: GatewayLedger;
  registry: Registry;
  trust: TrustMaterial;
  checkpointVerifierKey: string;
  /** The log's checkpoint keys with their windows (ledger/key-history.ts keyWindows): its own, and any it retired. */
  ownCheckpointKeys: { key: string; notBefore?: number; notAfter?: number }[];
  origin: string;
  metrics: GatewayMetrics;
  /** When this gateway process started (ms): rejection counts are since then. */
  startedAtMs: number;
  /** The gateway's clock skew allowance (config clockSkewSeconds), published for verifiers of its bundles. */
  clockSkewSeconds: number;
}

const Window = { notBefore: Type.Optional(Type.Integer()), notAfter: Type.Optional(Type.Integer()) };

/** The README "Trust file" format (protocol/trust.ts parses it). */
const TrustFile = Type.Object({
  roots: Type.Array(Type.Object({ name: Type.String(), alg: Type.String(), publicKey: Type.String({ description: 'raw public key, hex' }), ...Window })),
  checkpointKeys: Type.Array(Type.Object({ key: Type.String({ description: 'C2SP signed-note verifier key' }), ...Window })),
  origin: Type.String(),
  clockSkewSeconds: Type.Integer({
    minimum: 1,
    description:
      "this gateway's clock skew allowance (config clockSkewSeconds): how far a reading's iat may be ahead of its entry's receivedAt. " +
      'Verifiers of its bundles pass it as maxClockSkewSeconds (`originproof verify --max-skew`); trust-file readers that do not know it ignore it.',
  }),
});

const window = (w: { notBefore?: number; notAfter?: number }) => ({
  ...(w.notBefore !== undefined ? { notBefore: w.notBefore } : {}),
  ...(w.notAfter !== undefined ? { notAfter: w.notAfter } : {}),
});

export function exploreRoutes(app: HttpApp, deps: ExploreRouteDeps): void {
  const L = deps.ledger.ledger;
  // The log's own keys (a rotated log's retired ones too) with their windows, bounding the trust file's entries for
  // them (trust-with-log-keys.ts), as POST /v1/verify checks bundles.
  const checkpointKeys = trustWithLogKeys(deps.trust, deps.ownCheckpointKeys).checkpointKeys.map((k) => ({ key: formatVerifierKey(k.verifier.name, k.verifier.publicKey), ...window(k) }));

  app.get(
    '/v1/trust',
    {
      schema: {
        tags: ['records'],
        operationId: 'getTrust',
        summary: "The trust material this gateway uses, as a trust file: its root(s), its checkpoint key(s) (its own included) and its log origin",
        description: 'What the verifier page shows and uses unless the verifier loads a trust file of its own. Check the fingerprints out of band before pinning it.',
        response: { 200: TrustFile },
      },
    },
    async () => {
      return {
        roots: deps.trust.roots.map((r) => ({ name: r.name, alg: algName(r.key.alg), publicKey: toHex(r.key.raw), ...window(r) })),
        checkpointKeys,
        origin: deps.trust.origin ?? deps.origin,
        clockSkewSeconds: deps.clockSkewSeconds,
      };
    },
  );

  app.get(
    '/v1/blocks',
    {
      schema: {
        tags: ['records'],
        operationId: 'listBlocks',
        summary: 'The latest block headers, newest first',
        querystring: Type.Object({ limit: Type.Optional(SafeUint({ minimum: 1, maximum: 100 })) }),
        response: {
          200: Type.Object({
            height: Type.Integer({ description: 'height of the latest block (-1: no block yet)' }),
            blocks: Type.Array(Type.Object({ height: Type.Integer(), firstIndex: Type.Integer(), lastIndex: Type.Integer(), treeSize: Type.Integer(), root: Type.String(), timeMs: Type.Integer() })),
          }),
        },
      },
    },
    async (req) => {
      const top = L.height;
      const bottom = Math.max(0, top - (req.query.limit ?? 10) + 1);
      const blocks = [];
      for (let h = top; h >= bottom; h--) {
        const b = (await L.servedBlock(h))?.header;
        if (b) blocks.push({ height: b.height, firstIndex: b.firstIndex, lastIndex: b.lastIndex, treeSize: b.treeSize, root: toHex(b.root), timeMs: b.timeMs });
      }
      return { height: top, blocks };
    },
  );

  app.get(
    '/v1/devices/:deviceId/latest',
    {
      schema: {
        tags: ['records'],
        operationId: 'listDeviceLatestEntries',
        summary: "A device's latest readings, newest first",
        params: Type.Object({ deviceId: DeviceIdParam }),
        querystring: Type.Object({ limit: Type.Optional(SafeUint({ minimum: 1, maximum: 100 })) }),
        response: { 200: Type.Object({ entries: Type.Array(EntryView) }), ...readErrors },
      },
    },
    async (req) => {
      if (!deps.registry.deviceById(req.params.deviceId)) throw new ApiError('NOT_FOUND', `no device ${req.params.deviceId}`);
      const found = await L.latestByDevice(req.params.deviceId, req.query.limit ?? 20);
      return { entries: found.map((f) => entryView(f.entry, f.leafHash)) };
    },
  );

  app.get(
    '/v1/rejections',
    {
      schema: {
        tags: ['records'],
        operationId: 'getRejectionCounts',
        summary: 'Rejected readings by error code since this gateway process started (rejections are not logged)',
        response: {
          200: Type.Object({
            sinceMs: Type.Integer(),
            total: Type.Integer(),
            byCode: Type.Array(Type.Object({ code: Type.String(), count: Type.Integer() })),
          }),
        },
      },
    },
    async () => {
      const { values } = await deps.metrics.rejected.get();
      const byCode = values
        .filter((v) => typeof v.labels.code === 'string' && v.value > 0)
        .map((v) => ({ code: String(v.labels.code), count: v.value }))
        .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
      return { sinceMs: deps.startedAtMs, total: byCode.reduce((n, c) => n + c.count, 0), byCode };
    },
  );
}
