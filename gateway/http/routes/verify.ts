/**
 * Verdict routes: POST a proof bundle (checked exactly as an offline verifier would, with the gateway's trust
 * material plus its own checkpoint key and its clock skew allowance, and for a bundle of this log with the log's
 * whole revocation list as `verify --revocation-log` takes it, so the revocation check is complete up to the latest
 * checkpoint whatever the bundle carries) or a reading envelope (checked as the
 * pipeline would, without admitting it: signature, chain, revocation, claims with the clock against the gateway's
 * time and the sequence number against the device's last accepted one). An envelope alone proves who signed it,
 * not that it was logged: unless it is the very envelope the log holds (whose bundle is then verified), inclusion,
 * checkpoint and consistency are not checked and the verdict is not valid. The answer lists every check, one per
 * name in CHECK_NAMES order, with its result and, on failure, its code.
 */
import { Type } from '@sinclair/typebox';
import { TimeBudget } from '../time-budget.js';
import { CHECK_NAMES, verifyBundle, type Check, type CheckName, type Verdict, type VerdictRecord, type VerifyBundleOptions } from '../../../protocol/verify-bundle.js';
import { prepareRevocationList, type PreparedRevocationList, type PreparedRevocationLog } from '../../../protocol/verify-revocation-log.js';
import type { LoggedRevocation } from '../../../protocol/revocation-log.js';
import type { RevocationCertificates } from '../../../protocol/revocation-listing.js';
import { run, skip } from '../../../protocol/verify-checks.js';
import { decodeProofBundleAny } from '../../../protocol/bundle.js';
import { parseCheckpoint, parseNote } from '../../../protocol/checkpoint.js';
import type { ProofBundle } from '../../../protocol/bundle.js';
import { BIOMETRIC_READING_TYPE } from '../../../protocol/biometric.js';
import { verifySign1 } from '../../../protocol/cose-sign1.js';
import { isDeviceIdOfThumbprint } from '../../../protocol/device-id.js';
import { ERROR_CODES, fail } from '../../../protocol/errors.js';
import { decodeLogEntry } from '../../../protocol/log-entry.js';
import { openReading, type OpenedReading } from '../../../protocol/reading.js';
import { decodeRevocation, type DecodedRevocation } from '../../../protocol/revocation.js';
import { bytesEqual, toHex } from '../../../protocol/bytes.js';
import type { TrustMaterial } from '../../../protocol/trust.js';
import type { SignatureVerifier } from '../../../protocol/algorithms.js';
import { nodeVerify } from '../../crypto/node-verifier.js';
import { trustWithLogKeys } from '../../trust-with-log-keys.js';
import { bundleMaterial } from '../../bundle-material.js';
import { assertReadingClock } from '../../reading-policy.js';
import type { GatewayLedger } from '../../ledger-adapter.js';
import { readingRevokedAt, type ReadingChain, type Registry } from '../../registry.js';
import type { HttpApp } from '../app.js';
import { ApiError } from '../error-registry.js';
import { b64in } from '../codec.js';
import { Base64, errors, ReadingBody } from '../schemas.js';

const CheckSchema = Type.Object({
  name: Type.String({ enum: [...CHECK_NAMES] }),
  status: Type.Union([Type.Literal('pass'), Type.Literal('fail'), Type.Literal('skip')]),
  code: Type.Optional(Type.String({ enum: [...ERROR_CODES], description: 'why the check failed (README "Error codes")' })),
  message: Type.String(),
});

const VerdictSchema = Type.Object({
  valid: Type.Boolean({
    description:
      'true only if no check failed and inclusion passed: the record is proven to be in the log. An envelope that is not in the log is never valid, ' +
      'even when every check that could run passed (inclusion, checkpoint and consistency are then skip).',
  }),
  checks: Type.Array(CheckSchema, { description: 'one per check name, in the order signature, chain, revocation, claims, inclusion, checkpoint, consistency' }),
  record: Type.Optional(
    Type.Object(
      {
        index: Type.Optional(Type.Integer({ description: 'the entry in the log' })),
        treeSize: Type.Optional(Type.Integer({ description: 'the tree size it was proven in' })),
        receivedAtMs: Type.Optional(Type.Integer()),
        entryType: Type.Integer({ description: '1 reading, 2 agency registration, 3 device registration, 4 revocation' }),
        deviceId: Type.Optional(Type.String()),
        agency: Type.Optional(Type.String()),
        root: Type.Optional(Type.String({ description: 'the trust anchor the chain ended at, when the chain check passed' })),
        seq: Type.Optional(Type.Integer()),
        iat: Type.Optional(Type.Integer()),
        // typed unknown as protocol's VerdictRecord has it; documented (and held to it by the contract test) as the body
        body: Type.Optional(Type.Unsafe<unknown>(Type.Union(ReadingBody.anyOf, { description: "a reading's body, as GET /v1/entries/{index} shows it" }))),
      },
      { description: 'what was verified; index, treeSize and receivedAtMs only for a record in the log (absent for an envelope that is not logged)' },
    ),
  ),
  checkpoint: Type.Optional(Type.Object({ origin: Type.String(), size: Type.Integer(), root: Type.String(), signedBy: Type.Array(Type.String(), { description: 'names of the trusted keys whose signatures verified' }) })),
});

export interface VerifyRouteDeps {
  ledger: GatewayLedger;
  registry: Registry;
  trust: TrustMaterial;
  checkpointVerifierKey: string;
  /** The log's checkpoint keys with their windows (ledger/key-history.ts keyWindows): its own, and any it retired. */
  ownCheckpointKeys: { key: string; notBefore?: number; notAfter?: number }[];
  /** The gateway's config: the same limits the pipeline applies. */
  maxReadingBytes: number;
  clockSkewSeconds: number;
  maxReadingAgeSeconds: number;
  /** Most milliseconds per second POST /v1/verify requests may take together (config httpVerifyMsPerSecond). */
  verifyMsPerSecond: number;
  /**
   * The clock (ms) that budget measures the verdicts' work and its one-second window by: a monotonic one, not the
   * gateway's (`now`), which may be held or stepped. Default performance.now; a test drives its own.
   */
  budgetClock?: () => number;
  /** The gateway's clock (ms). */
  now: () => number;
  /**
   * The pipeline's view of a device's admitted readings (Pipeline.admitted): the highest seq admitted and the envelopes
   * on their way into a block, which the store does not hold yet. Absent: the store's only.
   */
  admitted?: (deviceId: string) => { lastSeq: number; pending: readonly { seq: number; bytes: Uint8Array }[] } | undefined;
  /**
   * The verdicts' signature verifier and its KeyObject cache (crypto/node-verifier.ts). A bundle brings its own
   * certificates, whose keys anyone may make up, so the gateway gives this a cache of its own, bounded as its others
   * are (found by the resource-exhaustion review: the shared one held up to 100,000 keys, ~3 kB per P-256 key, and
   * each POST of a bundle with made-up certificates added two). Default: that shared one.
   */
  verifier?: SignatureVerifier;
}

/** What the three log checks say for an envelope the log does not hold. */
export const NOT_LOGGED = 'not in the log: an envelope alone proves who signed it, not that it was logged';

export function verifyRoutes(app: HttpApp, deps: VerifyRouteDeps): void {
  // The material as GET /v1/trust serves it (trust-with-log-keys.ts): the log's own keys, current and retired, added
  // with their windows unless the trust file names them, and bounded by those windows when it does (added again
  // without the file's window, the own key verified checkpoints an offline verifier fails; the file's unbounded entry
  // for a retired key let it vouch for blocks after its switch).
  const trust = trustWithLogKeys(deps.trust, deps.ownCheckpointKeys);
  // Each verdict is judged at the gateway's time (`now`, given per verdict), as its readings are: the block times it
  // checks against that clock are the ones it gave (test/gateway/clock-step.test.ts).
  const verifier = deps.verifier ?? nodeVerify;
  const bundleOpts = { verifier, maxClockSkewSeconds: deps.clockSkewSeconds };
  // The verdicts' share of the event loop, whoever asks (time-budget.ts): the readings' pipeline runs on it too.
  const budget = new TimeBudget(deps.verifyMsPerSecond, 'verdicts (POST /v1/verify)', deps.budgetClock);
  // The log's revocation list, prepared once per change rather than per verdict (PreparedRevocationLists).
  const lists = new PreparedRevocationLists(deps.registry);

  app.post(
    '/v1/verify',
    {
      config: { rateLimit: {} },
      schema: {
        tags: ['verify'],
        operationId: 'verify',
        summary: 'Verdict on a proof bundle (offline-equivalent checks) or on a reading envelope (pipeline checks, not admitted)',
        description:
          "{bundle} (base64 of a CBOR bundle or of its JSON view, as GET /v1/entries/{index}/bundle serves them): checked as `originproof verify` would, with this gateway's trust material, its checkpoint key and its clockSkewSeconds. " +
          "{envelope}: checked as the pipeline would (signature, chain, revocation; claims including the clock against this gateway's time and " +
          'the sequence number against the last one it accepted: CLOCK_SKEW, REPLAY), without admitting it. If the log holds this very envelope, ' +
          "the verdict is its bundle's (record.index names its entry). Otherwise inclusion, checkpoint and consistency are skip and `valid` is " +
          'false: an envelope alone proves who signed it, not that it was logged.',
        // One or the other: a body with both (or with another field) is BAD_REQUEST, not one of them taken silently.
        body: Type.Union([Type.Object({ bundle: Base64 }, { additionalProperties: false }), Type.Object({ envelope: Base64 }, { additionalProperties: false })]),
        response: { 200: VerdictSchema, ...errors(404, 413, 422, 429) },
      },
    },
    async (req) => {
      const body = req.body as { bundle?: string; envelope?: string };
      if (body.bundle !== undefined) {
        // Either encoding `originproof verify` takes: the CBOR bundle or its JSON view (GET ...?format=json).
        const bundle = decodeProofBundleAny(b64in(body.bundle, 'bundle'));
        budget.check(); // before the store is asked; charge() checks again before the work
        const withList = await withOwnRevocations(deps, lists, bundle, bundleOpts);
        return budget.charge(() => verifyBundle(bundle, trust, { ...withList(), now: Math.floor(deps.now() / 1000) }));
      }
      if (body.envelope !== undefined) {
        const bytes = b64in(body.envelope, 'envelope');
        budget.check();
        return envelopeVerdict(deps, lists, trust, bundleOpts, bytes, budget);
      }
      throw new ApiError('BAD_REQUEST', 'send {bundle} or {envelope}');
    },
  );
}

/**
 * The log's revocation list prepared for verdicts (protocol/verify-revocation-log.ts prepareRevocationList: each
 * statement decoded, hashed into the list's commitment and indexed once), kept while the list and the certificates
 * beside its statements stay as they are: the same entries (the ledger keeps the entries it has read, the very same
 * objects, and its list only grows) and the same Registry.certificatesEpoch. One list is kept; a list that grew is
 * prepared from the one kept (only the new statements' work is done). The latest checkpoint changes with every
 * block: it is opened per verdict against the kept list (a signature, the line compared with the kept commitment;
 * the last two openings remembered), with the checkpoint keys valid at the verdict's time.
 */
export class PreparedRevocationLists {
  private kept: { entries: readonly LoggedRevocation[]; epoch: number; list: PreparedRevocationList } | undefined;

  constructor(private readonly registry: Registry) {}

  /** The prepared list of `entries` (the listing's, in log order). */
  get(entries: readonly LoggedRevocation[]): PreparedRevocationList {
    const k = this.kept;
    const epoch = this.registry.certificatesEpoch;
    const sameEntries = k !== undefined && k.entries.length === entries.length && k.entries.every((e, i) => e === entries[i]);
    if (k && sameEntries && k.epoch === epoch) return k.list;
    // Beside a statement, the certificates that place it, as GET /v1/revocations lists them; for the entries kept,
    // the same as before while the epoch holds (and their statements decoded once).
    const before = new Map<LoggedRevocation, LoggedRevocation & RevocationCertificates>();
    if (k && k.epoch === epoch) k.list.revocations.forEach((r, i) => before.set(k.entries[i]!, r));
    const decoded = new Map<Uint8Array, DecodedRevocation>();
    for (const h of k?.list.held ?? []) if (h.decoded && 'rev' in h.decoded) decoded.set(h.bytes, h.decoded.rev);
    const withCertificates = entries.map((r) => before.get(r) ?? { ...r, ...this.registry.revocationCertificates(decoded.get(r.statement) ?? decodeRevocation(r.statement)) });
    const list = prepareRevocationList(withCertificates, k?.list);
    this.kept = { entries: [...entries], epoch, list };
    return list;
  }
}

/**
 * The verify options with this log's whole revocation list and the latest checkpoint committing to it, for a bundle
 * of this log (by its checkpoint's origin); a bundle of another log, an empty log, or a latest checkpoint without a
 * revocations line (a ledger written before it, until its next block) is verified without. The list is the one kept
 * prepared (PreparedRevocationLists), prepared again when it changed. Given as a function, called in the verdict's own
 * charge: the store's answers awaited here, the preparation is part of the verdict's synchronous work, checked and
 * charged with it once (charged apart, a preparation over the budget refused the verdict it had been done for).
 */
async function withOwnRevocations({ ledger }: VerifyRouteDeps, lists: PreparedRevocationLists, bundle: ProofBundle, opts: VerifyBundleOptions): Promise<() => VerifyBundleOptions> {
  let origin: string | undefined;
  try {
    origin = parseCheckpoint(parseNote(bundle.checkpoint).text).origin;
  } catch {
    origin = undefined; // the checkpoint check names what is wrong with it
  }
  if (origin !== ledger.ledger.origin) return () => opts;
  const { checkpoint, revocations, treeSize } = await ledger.ledger.revocationListing();
  if (checkpoint === null) return () => opts;
  // With the proof that the list's checkpoint and the bundle's are one log's (a bundle of a fork of this log, signed
  // with its key, fails the revocation check); a bundle claiming a tree this log does not have gets an empty one.
  let consistency: Uint8Array[] | undefined;
  if (bundle.treeSize !== treeSize) {
    const [small, large] = bundle.treeSize < treeSize ? [bundle.treeSize, treeSize] : [treeSize, bundle.treeSize];
    consistency = large > ledger.ledger.size ? [] : await ledger.ledger.consistencyProof(small, large);
  }
  // Opened at the verdict's own time inside verifyBundle (the checkpoint keys valid then), charged with it.
  return () => {
    const revocationLog: PreparedRevocationLog = { list: lists.get(revocations), checkpoint, ...(consistency ? { consistency } : {}) };
    return { ...opts, revocationLog };
  };
}

const bytesEqualTo = (a: Uint8Array | undefined, b: Uint8Array): boolean => a !== undefined && bytesEqual(a, b);

/** An envelope's record: index, treeSize and receivedAtMs only when it is in the log (never placeholders). */
type EnvelopeRecord = Omit<VerdictRecord, 'index' | 'treeSize' | 'receivedAtMs'>;
type EnvelopeVerdict = Omit<Verdict, 'record'> & { record?: EnvelopeRecord | VerdictRecord };

function verdictOf(checks: Map<CheckName, Check>, otherwise: string, record?: EnvelopeRecord): EnvelopeVerdict {
  const list = CHECK_NAMES.map((n) => checks.get(n) ?? skip(n, otherwise));
  const verdict: EnvelopeVerdict = { valid: list.every((c) => c.status !== 'fail') && list.some((c) => c.name === 'inclusion' && c.status === 'pass'), checks: list };
  if (record) verdict.record = record;
  return verdict;
}

async function envelopeVerdict(deps: VerifyRouteDeps, lists: PreparedRevocationLists, trust: TrustMaterial, bundleOpts: VerifyBundleOptions, bytes: Uint8Array, budget: TimeBudget): Promise<EnvelopeVerdict> {
  const checks = new Map<CheckName, Check>();
  let opened: OpenedReading;
  try {
    opened = openReading(bytes, { maxBytes: deps.maxReadingBytes });
  } catch (err) {
    checks.set('claims', run('claims', () => { throw err; }));
    return verdictOf(checks, 'not checked: the envelope does not open');
  }
  const { claims } = opened;
  const record: EnvelopeRecord = {
    entryType: 1,
    deviceId: toHex(claims.deviceId),
    seq: claims.seq,
    iat: claims.iat,
    body: claims.body.kind === 'sensor' ? claims.body : { ...claims.body, subjectCommitment: toHex(claims.body.subjectCommitment) },
  };
  const device = deps.registry.deviceByKid(opened.kid);
  if (!device) {
    checks.set('chain', { name: 'chain', status: 'fail', code: 'UNKNOWN_KEY', message: 'no registered device has the key this reading names (kid)' });
    return verdictOf(checks, 'not checked: no registered device has this key', record);
  }

  // The very envelope the log holds: its bundle's verdict (inclusion proven, times judged as when it arrived).
  const stored = await deps.ledger.findBySeq(device.deviceId, claims.seq);
  if (stored && bytesEqual(stored.payload, bytes)) {
    const L = deps.ledger.ledger;
    const entryBytes = await L.uncheckedEntry(stored.index); // findBySeq checked it; proofBundle checks it to the checkpoint
    if (!entryBytes) throw new ApiError('NOT_FOUND', `no entry ${stored.index}`);
    const bundle = await L.proofBundle(stored.index, bundleMaterial(deps.registry, decodeLogEntry(entryBytes)));
    const withList = await withOwnRevocations(deps, lists, bundle, bundleOpts);
    return budget.charge(() => verifyBundle(bundle, trust, { ...withList(), now: Math.floor(deps.now() / 1000) }));
  }
  // The last accepted seq as the pipeline's replay check takes it: the readings it admitted, on their way into a block
  // (not in the store yet), and the store's, which holds a block a moment before the log counts it. This very envelope
  // on its way is not a replay of its seq (the pipeline answers a resend of it with its receipt); other bytes are.
  const admitted = deps.admitted?.(device.deviceId);
  const inStore = await deps.ledger.lastSeq(device.deviceId);
  const lastSeq = admitted === undefined ? inStore : Math.max(admitted.lastSeq, inStore ?? -1);
  const onItsWay = !stored && lastSeq !== undefined && claims.seq <= lastSeq &&
    ((admitted?.pending.some((p) => p.seq === claims.seq && bytesEqual(p.bytes, bytes)) ?? false) ||
      bytesEqualTo(await deps.ledger.ledger.storedPayloadBySeq(device.deviceId, claims.seq), bytes));
  const iat = claims.iat;

  checks.set('signature', budget.charge(() => run('signature', () => {
    verifySign1(opened.sign1, device.cert.holderKey, { verifier: bundleOpts.verifier });
    return `COSE_Sign1 verifies with the key of device ${device.deviceId}`;
  })));
  // The chain the pipeline would log it under: an earlier one for a reading signed before a renewal (Registry.chainAt).
  let chain: ReadingChain | undefined;
  checks.set('chain', run('chain', () => {
    deps.registry.assertChainValidAt(device, iat);
    chain = deps.registry.chainAt(device, iat);
    return `${device.deviceId} <- ${chain.agencyCert.claims.sub} <- trusted root, valid at ${iat}`;
  }));
  checks.set('revocation', run('revocation', () => {
    // As the pipeline judges it arriving now (Registry readingRevokedAt).
    const revokedAt = readingRevokedAt(iat, deps.now());
    const status = deps.registry.deviceStatus(device, iat, revokedAt);
    if (status === 'revoked' || status === 'agency-revoked') deps.registry.assertDeviceUsableAt(device, iat, 'certificate', revokedAt); // throws CERT_REVOKED
    return 'no revocation known to this gateway covers the device or its agency at the reading time';
  }));
  const cert = chain?.cert ?? device.cert;
  checks.set('claims', run('claims', () => {
    // The pipeline's checks, in its order: ueid, reading type, firmware, clock (against now), sequence number.
    if (!isDeviceIdOfThumbprint(claims.deviceId, cert.holderKid)) fail('CLAIM_INVALID', 'ueid is not this device', 'claims.ueid');
    const profile = cert.claims.profile;
    const type = claims.body.kind === 'sensor' ? claims.body.type : BIOMETRIC_READING_TYPE;
    if (!profile || !profile.readingTypes.includes(type)) fail('TYPE_NOT_ALLOWED', `reading type ${type} is not in the device profile`, 'claims.body.type');
    if (!bytesEqual(claims.firmware, profile.firmware)) fail('FIRMWARE_MISMATCH', 'firmware measurement differs from the certified one', 'claims.fwm');
    assertReadingClock(iat, Math.floor(deps.now() / 1000), deps);
    if (lastSeq !== undefined && claims.seq <= lastSeq && !onItsWay) fail('REPLAY', `sequence number ${claims.seq} is not above the last accepted one (${lastSeq})`, 'claims.seq');
    return `reading ${claims.seq} of device ${device.deviceId} is well formed; no raw biometric data; type ${type} allowed; firmware as certified; dated within the clock limits; ${onItsWay ? 'the very envelope being logged under this sequence number' : 'sequence number above the last accepted one'}`;
  }));
  for (const name of ['inclusion', 'checkpoint', 'consistency'] as const) checks.set(name, skip(name, NOT_LOGGED));
  // The agency of the chain it is checked (and would be logged) under: a previous one for a reading signed before a
  // transfer (Registry.chainAt), as the verdict of its bundle names once it is logged.
  record.agency = (chain?.agencyCert ?? device.agency.cert).claims.sub;
  return verdictOf(checks, NOT_LOGGED, record);
}
