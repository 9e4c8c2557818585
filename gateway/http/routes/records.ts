/** Record routes: entries, per-device and time queries, proof bundles, checkpoints, proofs and block headers. */
import negotiate from '@fastify/accept-negotiator';
import { Type, type Static } from '@sinclair/typebox';
import { toHex } from '../../../protocol/bytes.js';
import { decodeLogEntry, type EntryType } from '../../../protocol/log-entry.js';
import { openLoggedReading } from '../../../protocol/reading.js';
import { encodeProofBundle, proofBundleToJson } from '../../../protocol/bundle.js';
import { nodeMerkleHasher } from '../../../ledger/hasher.js';
import { DEVICE_SCAN_ROWS } from '../../../ledger/queries.js';
import type { GatewayLedger } from '../../ledger-adapter.js';
import type { Registry } from '../../registry.js';
import type { HttpApp } from '../app.js';
import { ApiError } from '../error-registry.js';
import { b64out } from '../codec.js';
import { Base64, DeviceIdParam, ReadingBody, readErrors, SafeUint, safeUintOf, StringEnum } from '../schemas.js';
import { bundleMaterial } from '../../bundle-material.js';
import { keyWindows } from '../../../ledger/key-history.js';

const TYPE_NAMES = { 1: 'reading', 2: 'agency-registration', 3: 'device-registration', 4: 'revocation' } as const satisfies Record<EntryType, string>;

const ReadingView = Type.Object({
  deviceId: Type.String(),
  seq: Type.Integer(),
  iat: Type.Integer(),
  firmware: Type.String(),
  body: ReadingBody,
});

export const EntryView = Type.Object({
  index: Type.Integer(),
  type: StringEnum(Object.values(TYPE_NAMES)),
  receivedAtMs: Type.Integer(),
  certRef: Type.Optional(Type.String()),
  leafHash: Type.String(),
  payload: Base64,
  reading: Type.Optional(ReadingView),
});
type EntryViewT = Static<typeof EntryView>;

/** `leafHash`: the entry's, when the read that found it has it (a listing's entries are checked against their leaves). */
export function entryView(bytes: Uint8Array, leafHash: Uint8Array = nodeMerkleHasher.hashLeaf(bytes)): EntryViewT {
  const e = decodeLogEntry(bytes);
  const view: EntryViewT = { index: e.index, type: TYPE_NAMES[e.type], receivedAtMs: e.receivedAtMs, leafHash: toHex(leafHash), payload: b64out(e.payload) };
  if (e.certRef) view.certRef = toHex(e.certRef);
  if (e.type === 1) {
    // One that no longer opens (logged under rules since tightened) is served as logged, without the decoded view.
    const c = openLoggedReading(e.payload)?.claims;
    if (!c) return view;
    view.reading = {
      deviceId: toHex(c.deviceId),
      seq: c.seq,
      iat: c.iat,
      firmware: toHex(c.firmware),
      body: c.body.kind === 'sensor' ? { ...c.body } : { kind: 'biometric', purpose: c.body.purpose, result: c.body.result, score: c.body.score, subjectCommitment: toHex(c.body.subjectCommitment) },
    };
  }
  return view;
}

export interface RecordRouteDeps {
  ledger: GatewayLedger;
  registry: Registry;
  checkpointVerifierKey: string;
  /** The announced next checkpoint key's verifier key (null or absent: none announced). */
  nextCheckpointVerifierKey?: string | null;
  origin: string;
  /** The audience devices' connect tokens must name (config gatewayId), published so onboarding can use it. */
  gatewayId?: string;
  /** Where devices connect (known only once the broker listens; routes are registered before that). */
  mqttPorts?: () => { mqttPort: number | null; mqttTlsPort: number | null; wsPort: number | null; wsTls: boolean } | null;
  /**
   * A time (ms) below which the log's entries are final: no reading that arrived before it is still being checked,
   * nor an entry before it still being written. Time queries list entries only below it, so that a client paging
   * by time never pages past an entry logged later. Absent: every entry is final (a store no one writes).
   */
  settledBeforeMs?: () => number;
}

/** The JSON view of a proof bundle (protocol/bundle.ts ProofBundleJson): byte strings in standard base64. */
const B64 = Type.String({ contentEncoding: 'base64', description: 'standard base64' });
export const ProofBundleJsonView = Type.Object({
  entry: B64,
  index: Type.Integer(),
  treeSize: Type.Integer(),
  inclusionProof: Type.Array(B64),
  checkpoint: Type.String({ description: 'the C2SP signed note' }),
  blockHeader: B64,
  certificates: Type.Array(B64),
  revocations: Type.Array(B64),
  consistency: Type.Optional(Type.Object({ fromSize: Type.Integer(), proof: Type.Array(B64) }, { description: 'with since=SIZE: the consistency proof from SIZE' })),
});

/** OpenAPI only: a checkpoint is sent as the signed note's text (the payload is a string, sent as is). */
const SignedNote = Type.Unsafe<string>({ description: 'a C2SP signed note', content: { 'text/plain': { schema: { type: 'string' } } } });

/** The `after` cursor of a time query: two safe integers, its receivedAtMs inside the queried range. */
function timeCursor(after: string, fromMs: number, toMs: number): { receivedAtMs: number; index: number } {
  const [msText = '', indexText = ''] = after.split(':');
  const receivedAtMs = safeUintOf(msText);
  const index = safeUintOf(indexText);
  if (receivedAtMs === undefined || index === undefined) throw new ApiError('BAD_REQUEST', 'after must be "receivedAtMs:index", both safe integers');
  if (receivedAtMs < fromMs || receivedAtMs > toMs) throw new ApiError('BAD_REQUEST', `after's receivedAtMs ${receivedAtMs} is outside [fromMs, toMs] = [${fromMs}, ${toMs}]`);
  return { receivedAtMs, index };
}

function mqttView(p: ReturnType<NonNullable<RecordRouteDeps['mqttPorts']>>) {
  return p ? { port: p.mqttPort, tlsPort: p.mqttTlsPort, wsPort: p.wsPort, wsTls: p.wsTls } : null;
}

export function recordRoutes(app: HttpApp, deps: RecordRouteDeps): void {
  const { ledger, registry } = deps;
  const L = ledger.ledger;
  const Index = Type.Object({ index: SafeUint() });
  // The latest checkpoint as served: checked with the log's key like every stored one (read from the store at
  // open; ledger/checkpoint-self-check.ts, a lookup once verified). Size and note change together, at a block's commit.
  const latestCheckpoint = (): string | undefined => {
    const cp = L.latestCheckpoint;
    return cp === undefined ? undefined : L.checkedNote(cp, L.size);
  };

  app.get(
    '/v1/log',
    {
      schema: {
        tags: ['records'],
        operationId: 'getLog',
        summary: "The log: origin, size, block height, checkpoint verifier key, latest checkpoint; the gateway's id and MQTT ports",
        response: {
          200: Type.Object({
            origin: Type.String(),
            gatewayId: Type.Union([Type.String(), Type.Null()], { description: "this gateway's id: the aud a device's connect token must name" }),
            size: Type.Integer(),
            height: Type.Integer(),
            verifierKey: Type.String(),
            nextVerifierKey: Type.Optional(
              Type.String({ description: 'the announced next checkpoint key (originproof ledger announce-key): every checkpoint names it and carries its signature too, so that devices follow it (SPEC §7); absent when none is announced' }),
            ),
            checkpointKeys: Type.Array(
              Type.Object({ key: Type.String(), notBefore: Type.Optional(Type.Integer()), notAfter: Type.Optional(Type.Integer()) }),
              { description: "the log's checkpoint keys over its life, as a trust file lists them: after a key rotation (originproof ledger rotate-key) the retired keys until their switch (notAfter) and the current one from then (notBefore); one key, without a window, otherwise" },
            ),
            checkpoint: Type.Union([Type.String(), Type.Null()]),
            mqtt: Type.Union(
              [
                Type.Object({
                  port: Type.Union([Type.Integer(), Type.Null()], { description: 'plain MQTT over TCP (mqtt:); null when switched off' }),
                  tlsPort: Type.Union([Type.Integer(), Type.Null()], { description: 'MQTT over TLS (mqtts:); null when off' }),
                  wsPort: Type.Union([Type.Integer(), Type.Null()], { description: 'MQTT over WebSocket; null when off' }),
                  wsTls: Type.Boolean({ description: 'the WebSocket listener speaks TLS (wss:)' }),
                }),
                Type.Null(),
              ],
              { description: "this gateway's MQTT listeners, on its HTTP host; null if not listening yet" },
            ),
          }),
        },
      },
    },
    async () => ({
      origin: deps.origin, gatewayId: deps.gatewayId ?? null, size: L.size, height: L.height, verifierKey: deps.checkpointVerifierKey,
      ...(deps.nextCheckpointVerifierKey ? { nextVerifierKey: deps.nextCheckpointVerifierKey } : {}),
      checkpointKeys: keyWindows(L.verifierKey, L.retiredKeys),
      checkpoint: latestCheckpoint() ?? null, mqtt: mqttView(deps.mqttPorts?.() ?? null),
    }),
  );

  app.get(
    '/v1/entries/:index',
    { schema: { tags: ['records'], operationId: 'getEntry', summary: 'One log entry by index', params: Index, response: { 200: EntryView, ...readErrors } } },
    async (req) => {
      const bytes = await L.getEntry(req.params.index);
      if (!bytes) throw new ApiError('NOT_FOUND', `no entry ${req.params.index} (log size ${L.size})`);
      return entryView(bytes);
    },
  );

  app.get(
    '/v1/entries',
    {
      schema: {
        tags: ['records'],
        operationId: 'listEntries',
        summary: 'Entries received in a time range, settled ones only (paginated by `after` = the last entry\'s "receivedAtMs:index")',
        querystring: Type.Object({
          fromMs: SafeUint(),
          toMs: SafeUint(),
          limit: Type.Optional(SafeUint({ minimum: 1, maximum: 1000 })),
          after: Type.Optional(Type.String({ pattern: '^\\d{1,16}:\\d{1,16}$', description: '`next` of the previous page: "receivedAtMs:index", safe integers, receivedAtMs in [fromMs, toMs]' })),
        }),
        response: {
          200: Type.Object({
            entries: Type.Array(EntryView),
            next: Type.Union([Type.String(), Type.Null()], { description: 'the cursor for the next page when this one is full; null otherwise' }),
            unsettledFromMs: Type.Optional(
              Type.Integer({
                description:
                  'present when the range reaches times not settled yet (readings received from then on may still be being checked): ' +
                  'entries from then on are not listed yet; ask again later with `after` = the last entry listed ("receivedAtMs:index")',
              }),
            ),
          }),
        },
      },
    },
    async (req) => {
      const { fromMs, toMs, limit = 100, after } = req.query;
      const cursor = after === undefined ? undefined : timeCursor(after, fromMs, toMs);
      // Only up to the settled time: entries are logged in index order, not arrival order (signatures are checked in
      // parallel), so one received earlier can still be on its way; a cursor past it would skip it for good.
      const settled = deps.settledBeforeMs?.() ?? Infinity;
      const upTo = Math.min(toMs, settled - 1);
      const found = upTo < fromMs ? [] : await L.entriesByTime({ fromMs, toMs: upTo, limit, ...(cursor ? { after: cursor } : {}) });
      const last = found[found.length - 1];
      return {
        entries: found.map((f) => entryView(f.entry, f.leafHash)),
        next: found.length === limit && last ? `${last.receivedAtMs}:${last.index}` : null,
        ...(toMs >= settled ? { unsettledFromMs: settled } : {}),
      };
    },
  );

  app.get(
    '/v1/devices/:deviceId/entries',
    {
      schema: {
        tags: ['records'],
        operationId: 'listDeviceEntries',
        summary: "A device's readings, by sequence number, optionally in a time range (paginated by `after` = `next`)",
        description: `The device index is in sequence order, so a time range is a filter: one request reads at most ${DEVICE_SCAN_ROWS} index rows. \`next\` is where to continue (\`after=next\`) whenever the request stopped early, because the page is full or because that budget ran out first (then the page may be short, even empty); null when the device's readings were read to the end.`,
        params: Type.Object({ deviceId: DeviceIdParam }),
        querystring: Type.Object({
          fromMs: Type.Optional(SafeUint()),
          toMs: Type.Optional(SafeUint()),
          limit: Type.Optional(SafeUint({ minimum: 1, maximum: 1000 })),
          after: Type.Optional(SafeUint({ description: 'a sequence number: `next` of the previous page' })),
        }),
        response: { 200: Type.Object({ entries: Type.Array(EntryView), next: Type.Union([Type.Integer(), Type.Null()], { description: 'the last sequence number read, to pass as `after`; null at the end' }) }), ...readErrors },
      },
    },
    async (req) => {
      if (!registry.deviceById(req.params.deviceId)) throw new ApiError('NOT_FOUND', `no device ${req.params.deviceId}`);
      const { limit = 100, ...q } = req.query;
      const page = await L.devicePage(req.params.deviceId, { ...q, limit });
      return { entries: page.entries.map((f) => entryView(f.entry, f.leafHash)), next: page.next ?? null };
    },
  );

  app.get(
    '/v1/entries/:index/bundle',
    {
      schema: {
        tags: ['records'],
        operationId: 'getEntryBundle',
        summary: 'Proof bundle for one entry: entry, inclusion proof, signed checkpoint, block header, certificates, revocations',
        description: 'format=cbor (default: application/cbor) or format=json (the documented JSON view); without format, an Accept header that prefers application/json to application/cbor gets the JSON view. treeSize proves against a later checkpoint. since=SIZE adds a consistency proof from SIZE to the bundle\'s tree size (bundle key 9) for offline `verify --since`.',
        params: Index,
        querystring: Type.Object({
          format: Type.Optional(Type.Union([Type.Literal('cbor'), Type.Literal('json')])),
          treeSize: Type.Optional(SafeUint({ minimum: 1 })),
          since: Type.Optional(SafeUint({ minimum: 1 })),
        }),
        response: {
          // The CBOR is sent as a Buffer (not serialized); the JSON view (proofBundleToJson) by its schema
          200: Type.Unsafe<unknown>({
            description: 'the proof bundle: CBOR (protocol/bundle.ts), or its JSON view with format=json',
            content: {
              'application/cbor': { schema: { type: 'string', format: 'binary' } },
              'application/json': { schema: ProofBundleJsonView },
            },
          }),
          ...readErrors,
        },
      },
    },
    async (req, reply) => {
      const { index } = req.params;
      // As stored: proofBundle checks the whole bundle to the signed checkpoint (an entry whose own stored leaf is
      // damaged is still proven by its siblings and served: ledger/entry-self-check.ts).
      const bytes = await L.uncheckedEntry(index);
      if (!bytes) throw new ApiError('NOT_FOUND', `no entry ${index} (log size ${L.size})`);
      if (req.query.treeSize !== undefined && req.query.treeSize <= index) {
        throw new ApiError('BAD_REQUEST', `a tree of size ${req.query.treeSize} does not hold entry ${index}: ask for its own block's checkpoint (no treeSize) or a later one`);
      }
      if (req.query.treeSize !== undefined && !(await L.checkpoint(req.query.treeSize))) throw new ApiError('NOT_FOUND', `no checkpoint at tree size ${req.query.treeSize}`);
      const material = bundleMaterial(registry, decodeLogEntry(bytes));
      const bundle = await L.proofBundle(index, { ...material, ...(req.query.treeSize !== undefined ? { treeSize: req.query.treeSize } : {}) });
      if (req.query.since !== undefined) {
        if (req.query.since > bundle.treeSize) throw new ApiError('BAD_REQUEST', `since ${req.query.since} is beyond the bundle's tree size ${bundle.treeSize}`);
        bundle.consistency = { fromSize: req.query.since, proof: await L.consistencyProof(req.query.since, bundle.treeSize) };
      }
      // ?format wins; without it, an Accept that prefers JSON (a client generated from the OpenAPI document sends
      // `Accept: application/json`) gets the JSON view; */*, a browser's Accept and none get CBOR, as before.
      reply.header('vary', 'Accept');
      if ((req.query.format ?? bundleFormatAccepted(req.headers.accept)) === 'json') return proofBundleToJson(bundle);
      return reply.header('content-type', 'application/cbor').send(Buffer.from(encodeProofBundle(bundle)));
    },
  );

  app.get(
    '/v1/checkpoints/latest',
    { schema: { tags: ['records'], operationId: 'getLatestCheckpoint', summary: 'The latest signed checkpoint (C2SP signed note, text/plain)', response: { 200: SignedNote, ...readErrors } } },
    async (_req, reply) => {
      const cp = latestCheckpoint();
      if (!cp) throw new ApiError('NOT_FOUND', 'the log is empty: no checkpoint yet');
      return reply.header('content-type', 'text/plain; charset=utf-8').send(cp);
    },
  );

  app.get(
    '/v1/checkpoints/:treeSize',
    {
      schema: {
        tags: ['records'],
        operationId: 'getCheckpoint',
        summary: 'The checkpoint signed at a tree size (every block has one)',
        params: Type.Object({ treeSize: SafeUint({ minimum: 1 }) }),
        response: { 200: SignedNote, ...readErrors },
      },
    },
    async (req, reply) => {
      const cp = await L.checkpoint(req.params.treeSize);
      if (!cp) throw new ApiError('NOT_FOUND', `no checkpoint at tree size ${req.params.treeSize}`);
      return reply.header('content-type', 'text/plain; charset=utf-8').send(cp);
    },
  );

  app.get(
    '/v1/proofs/consistency',
    {
      schema: {
        tags: ['records'],
        operationId: 'getConsistencyProof',
        summary: 'RFC 9162 consistency proof between two tree sizes',
        querystring: Type.Object({ from: SafeUint({ minimum: 1 }), to: Type.Optional(SafeUint({ minimum: 1 })) }),
        response: { 200: Type.Object({ from: Type.Integer(), to: Type.Integer(), proof: Type.Array(Base64) }) },
      },
    },
    async (req) => {
      const to = req.query.to ?? L.size;
      if (req.query.from > to || to > L.size) throw new ApiError('BAD_REQUEST', `need 1 <= from <= to <= ${L.size}`);
      return { from: req.query.from, to, proof: (await L.consistencyProof(req.query.from, to)).map(b64out) };
    },
  );

  app.get(
    '/v1/proofs/inclusion',
    {
      schema: {
        tags: ['records'],
        operationId: 'getInclusionProof',
        summary: 'RFC 9162 inclusion proof of an entry in a tree size',
        querystring: Type.Object({ index: SafeUint(), treeSize: Type.Optional(SafeUint({ minimum: 1 })) }),
        response: { 200: Type.Object({ index: Type.Integer(), treeSize: Type.Integer(), leafHash: Type.String(), proof: Type.Array(Base64) }) },
      },
    },
    async (req) => {
      const treeSize = req.query.treeSize ?? L.size;
      if (req.query.index >= treeSize || treeSize > L.size) throw new ApiError('BAD_REQUEST', `need index < treeSize <= ${L.size}`);
      const leafHash = nodeMerkleHasher.hashLeaf((await L.getEntry(req.query.index))!);
      // Checked to the checkpoint signed at treeSize (LedgerQueries.servedInclusionProof).
      return { index: req.query.index, treeSize, leafHash: toHex(leafHash), proof: (await L.servedInclusionProof(req.query.index, treeSize, leafHash)).map(b64out) };
    },
  );

  app.get(
    '/v1/blocks/:height',
    {
      schema: {
        tags: ['records'],
        operationId: 'getBlock',
        summary: 'A block header (hash-linked to the previous one)',
        params: Type.Object({ height: SafeUint() }),
        response: {
          200: Type.Object({ height: Type.Integer(), prevHash: Type.String(), firstIndex: Type.Integer(), lastIndex: Type.Integer(), treeSize: Type.Integer(), root: Type.String(), timeMs: Type.Integer(), header: Base64 }),
          ...readErrors,
        },
      },
    },
    async (req) => {
      const block = await L.servedBlock(req.params.height);
      if (!block) throw new ApiError('NOT_FOUND', `no block ${req.params.height}`);
      const h = block.header;
      return { ...h, prevHash: toHex(h.prevHash), root: toHex(h.root), header: b64out(block.bytes) };
    },
  );
}

const BUNDLE_TYPES = ['application/cbor', 'application/json'];

/** The bundle's format an Accept header asks for: 'json' only where it prefers application/json (wildcards: CBOR). */
function bundleFormatAccepted(accept: string | undefined): 'cbor' | 'json' {
  return accept !== undefined && negotiate(accept, BUNDLE_TYPES) === 'application/json' ? 'json' : 'cbor';
}
