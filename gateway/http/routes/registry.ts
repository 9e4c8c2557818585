/**
 * Registry routes. Writes carry signed objects (certificates, revocation statements), so no passwords travel:
 * the gateway checks every signature and role, and an agency can never register or revoke another agency's devices.
 */
import { Type } from '@sinclair/typebox';
import { toHex } from '../../../protocol/bytes.js';
import { algName } from '../../../protocol/algorithms.js';
import { decodeRevocation } from '../../../protocol/revocation.js';
import type { Ledger } from '../../../ledger/ledger.js';
import type { Registry, DeviceRecord, AgencyRecord } from '../../registry.js';
import type { HttpApp } from '../app.js';
import { b64in, b64out } from '../codec.js';
import { AgencyView, Base64, BASE64_STRING, DeviceIdParam, DeviceView, readErrors, RevocationReason, SafeUint, writeErrors, type AgencyViewT, type DeviceViewT } from '../schemas.js';
import { ApiError } from '../error-registry.js';
import { inEffect } from '../../registry-rules.js';
import type { EventLog, RegistryWrite } from '../../event-log.js';

/** Most revocation entries in one page of GET /v1/revocations (and the default). */
export const REVOCATION_PAGE = 1000;
/** Most devices in one GET /v1/agencies/:agencyId/devices answer (the rest by `after`: its `x-next-after` header). */
export const DEVICE_PAGE_MAX = 1000;
/** Most agencies in one GET /v1/agencies answer, and the default (the rest by `after`: its `x-next-after` header). */
export const AGENCY_PAGE_MAX = 1000;

export function deviceView(registry: Registry, d: DeviceRecord, at: number): DeviceViewT {
  const view: DeviceViewT = {
    deviceId: d.deviceId,
    agency: d.agency.cert.claims.sub,
    status: registry.deviceStatus(d, at),
    alg: algName(d.cert.holderKey.alg),
    kid: toHex(d.cert.holderKid),
    certRef: toHex(d.cert.certRef),
    notBefore: d.cert.claims.nbf,
    notAfter: d.cert.claims.exp,
    profile: {
      kind: d.cert.claims.profile!.kind,
      readingTypes: d.cert.claims.profile!.readingTypes,
      firmware: toHex(d.cert.claims.profile!.firmware),
    },
    registeredAt: d.index,
    certificate: b64out(d.cert.bytes),
  };
  if (d.revocation) {
    view.revokedFrom = d.revocation.claims.revokedFrom;
    view.revocationReason = d.revocation.claims.reason;
  }
  return view;
}

/**
 * `devices`: how many devices the agency has (Registry.deviceCount). `revoked`: its revocation is in effect at `at`, as
 * its devices' status says (found by review: true for one only scheduled, while the agency still acted); `revokedFrom`
 * shows a scheduled one too.
 */
function agencyView(a: AgencyRecord, devices: number, at: number): AgencyViewT {
  const view: AgencyViewT = {
    id: a.cert.claims.sub,
    kid: toHex(a.cert.holderKid),
    certRef: toHex(a.cert.certRef),
    issuer: a.cert.claims.iss,
    notBefore: a.cert.claims.nbf,
    notAfter: a.cert.claims.exp,
    registeredAt: a.index,
    revoked: inEffect(a.revocation, at),
    devices,
    certificate: b64out(a.cert.bytes),
  };
  if (a.revocation) view.revokedFrom = a.revocation.claims.revokedFrom;
  return view;
}

/**
 * `now` is the gateway clock in seconds (injectable for tests). `events`: a new registration or revocation is logged
 * there (an idempotent repeat, answered 200, is not), and so is a write refused.
 */
export function registryRoutes(app: HttpApp, registry: Registry, now: () => number, ledger: Ledger, events?: EventLog): void {
  const nowSeconds = now;
  // One limiter, so one store, for the three registry writes: each client address has one budget of writeRateLimit
  // writes per minute across them all. (A per-route `config.rateLimit` gives every route a store of its own, so an
  // address got the budget once per route; @fastify/rate-limit's `groupId` only suffixes the key inside those
  // per-route stores and does not share them.) POST /v1/verify has its own budget (routes/verify.ts).
  const write = { onRequest: app.rateLimit() };
  // A write refused (its signature, its chain, its role, its body) is logged, then answered as it would be.
  const refusalsLogged = async <T>(what: RegistryWrite, address: string, attempt: () => Promise<T>): Promise<T> => {
    try {
      return await attempt();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      events?.registryWriteRefused(what, typeof code === 'string' ? code : 'INTERNAL', address);
      throw err;
    }
  };

  app.post(
    '/v1/agencies',
    {
      ...write,
      schema: {
        tags: ['registry'],
        operationId: 'registerAgency',
        summary: 'Register an agency: its certificate, signed by a trusted root',
        body: Type.Object({ certificate: Base64 }),
        response: { 200: AgencyView, 201: AgencyView, ...writeErrors },
      },
    },
    async (req, reply) => {
      const { record, created } = await refusalsLogged('agency', req.ip, () => registry.registerAgency(b64in(req.body.certificate, 'certificate')));
      if (created) events?.agencyRegistered(record.cert.claims.sub, record.cert.holderKid, record.cert.certRef, record.index, req.ip);
      return reply.status(created ? 201 : 200).send(agencyView(record, registry.deviceCount(record.cert.claims.sub), nowSeconds()));
    },
  );

  app.post(
    '/v1/devices',
    {
      ...write,
      schema: {
        tags: ['registry'],
        operationId: 'registerDevice',
        summary: 'Register a device: its certificate, signed by a registered agency',
        body: Type.Object({ certificate: Base64 }),
        response: { 200: DeviceView, 201: DeviceView, ...writeErrors },
      },
    },
    async (req, reply) => {
      const { record, created } = await refusalsLogged('device', req.ip, () => registry.registerDevice(b64in(req.body.certificate, 'certificate')));
      if (created) events?.deviceRegistered(record.deviceId, record.agency.cert.claims.sub, record.cert.holderKid, record.cert.certRef, record.index, req.ip);
      return reply.status(created ? 201 : 200).send(deviceView(registry, record, nowSeconds()));
    },
  );

  app.post(
    '/v1/revocations',
    {
      ...write,
      schema: {
        tags: ['registry'],
        operationId: 'registerRevocation',
        summary: "Revoke a certificate: a statement signed by its issuer (the agency for its devices, the root for agencies)",
        description:
          "201: taken and logged. 200: the revocation registered for that certificate, posted again as its very bytes or signed again (every field of the statement equal, signed by the same issuer's key, only the signature other, as a randomized ES256 signer makes it on a retry): the answer names the registered entry (`index`) and nothing is logged. 409 CONFLICT: another statement about a revoked certificate that is not stricter (an earlier `revokedFrom`, or `keyCompromise` from the same time).",
        body: Type.Object({ revocation: Base64 }),
        response: {
          200: Type.Object({ certRef: Type.String(), sub: Type.String(), reason: RevocationReason, revokedFrom: Type.Integer(), index: Type.Integer() }),
          201: Type.Object({ certRef: Type.String(), sub: Type.String(), reason: RevocationReason, revokedFrom: Type.Integer(), index: Type.Integer() }),
          ...writeErrors,
        },
      },
    },
    async (req, reply) => {
      const { revocation, index, created } = await refusalsLogged('revocation', req.ip, () => registry.revoke(b64in(req.body.revocation, 'revocation')));
      const c = revocation.claims;
      if (created) events?.revocationRegistered(c.certRef, c.sub, c.reason, c.revokedFrom, index, req.ip);
      return reply.status(created ? 201 : 200).send({ certRef: toHex(c.certRef), sub: c.sub, reason: c.reason, revokedFrom: c.revokedFrom, index });
    },
  );

  app.get(
    '/v1/revocations',
    {
      schema: {
        tags: ['registry'],
        operationId: 'listRevocations',
        summary: 'The revocation entries in the log, with the signed checkpoint that commits to exactly this list (paginated by `after` = `next`)',
        description:
          `For a verifier's \`--revocation-log\` (\`originproof fetch-revocations\`): the revocation entries below the checkpoint's tree size, in log order, each statement signed by the revoked certificate's issuer. The checkpoint's \`revocations <count> <base64 R>\` line commits to the whole list (docs/DESIGN.md), so a verifier holding all \`count\` of them and trusting the checkpoint key knows that no revocation logged before that size is missing. A page holds at most \`limit\` (default and most ${REVOCATION_PAGE}); ask for the next with \`after=next&treeSize=treeSize\`, so that every page is of the same checkpoint. A client holding the list below an earlier tree size S asks only for \`after=S-1\`.`,
        querystring: Type.Object({
          treeSize: Type.Optional(SafeUint({ minimum: 1, description: 'the tree size of a signed checkpoint (default: the latest); NOT_FOUND if none was signed at it' })),
          after: Type.Optional(SafeUint({ description: 'list entries after this log index: `next` of the previous page' })),
          limit: Type.Optional(SafeUint({ minimum: 1, maximum: REVOCATION_PAGE })),
        }),
        response: {
          200: Type.Object({
            origin: Type.String(),
            treeSize: Type.Integer(),
            checkpoint: Type.Union([Type.String(), Type.Null()], {
              description: "the signed checkpoint (note) at treeSize; null while the log is empty, or while the checkpoint has no revocations line (a ledger written before the line existed, until its next block): the list is then each statement's own, complete up to nothing",
            }),
            count: Type.Integer({ description: 'revocation entries below treeSize in all, on every page (the checkpoint line\'s count)' }),
            revocations: Type.Array(
              Type.Object({
                index: Type.Integer(), certRef: Type.String(), sub: Type.String(), reason: RevocationReason, revokedFrom: Type.Integer(), revocation: Base64,
                certificate: Type.Optional(Type.String({
                  ...BASE64_STRING,
                  description:
                    "for a revocation of an agency certificate, or of a device certificate for keyCompromise: that certificate (not committed to by the checkpoint; a verifier checks it against the statement's certRef and its issuer's signature). A revocation names its certificate by hash and subject only, and a key may hold several certificates (an agency's renewal, a device's transfer to another agency): with it the verifier can place a revocation of a certificate the reading's bundle may have left out (protocol/agency-renewal.ts, key-compromise.ts)",
                })),
                issuer: Type.Optional(Type.String({
                  ...BASE64_STRING,
                  description: "beside a device certificate (`certificate`): the agency certificate that certified it, checked against a trusted root's signature",
                })),
              }),
            ),
            next: Type.Union([Type.Integer(), Type.Null()], { description: 'the last index of this page when more follow, to pass as `after`; null at the end' }),
          }),
          ...readErrors,
        },
      },
    },
    async (req) => {
      const { treeSize, after, limit = REVOCATION_PAGE } = req.query;
      // A committed checkpoint and the entries below its size: appends after it cannot change this list.
      const listing = await ledger.revocationListing({ ...(treeSize === undefined ? {} : { treeSize }), ...(after === undefined ? {} : { after }), limit });
      if (!listing) throw new ApiError('NOT_FOUND', `no checkpoint at tree size ${treeSize}`);
      if (listing.checkpoint) ledger.checkedNote(listing.checkpoint, listing.treeSize); // the latest too: LedgerDamagedError if its signature fails
      const revocations = listing.revocations.map(({ index, statement }) => {
        const c = decodeRevocation(statement).claims;
        const { certificate, issuer } = registry.revocationCertificates({ claims: c });
        return {
          index, certRef: toHex(c.certRef), sub: c.sub, reason: c.reason, revokedFrom: c.revokedFrom, revocation: b64out(statement),
          ...(certificate ? { certificate: b64out(certificate) } : {}),
          ...(issuer ? { issuer: b64out(issuer) } : {}),
        };
      });
      return { origin: ledger.origin, treeSize: listing.treeSize, checkpoint: listing.checkpoint, count: listing.count, revocations, next: listing.next ?? null };
    },
  );

  app.get(
    '/v1/agencies',
    {
      schema: {
        tags: ['registry'],
        operationId: 'listAgencies',
        summary: 'List registered agencies',
        description:
          `In registration order, at most \`limit\` (default and most ${AGENCY_PAGE_MAX}) per request: when more follow, the response ` +
          'header `x-next-after` names the last agency listed; pass it as `after` for the next page (an agency id keeps its ' +
          'place for good, also if another key takes it over).',
        querystring: Type.Object({
          limit: Type.Optional(SafeUint({ minimum: 1, maximum: AGENCY_PAGE_MAX })),
          after: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: 'an agency id: `x-next-after` of the previous page' })),
        }),
        response: {
          200: Type.Array(AgencyView, {
            headers: { 'x-next-after': { type: 'string', description: 'present when more agencies follow: the last agency listed, to pass as `after`' } },
          }),
          ...readErrors,
        },
      },
    },
    async (req, reply) => {
      // Paged as an agency's devices are: an answer's size, and its cost, are bounded whatever the registry holds.
      const { limit = AGENCY_PAGE_MAX, after } = req.query;
      const found = registry.agenciesPage(limit, after);
      if (!found) throw new ApiError('BAD_REQUEST', `after: ${after} is not a registered agency`);
      const { page, next } = found;
      if (next !== undefined) void reply.header('x-next-after', next);
      // Each agency's count is kept by the registry (found by review: a pass over every device per request).
      const now = nowSeconds();
      return page.map((a) => agencyView(a, registry.deviceCount(a.cert.claims.sub), now));
    },
  );

  app.get(
    '/v1/agencies/:agencyId/devices',
    {
      schema: {
        tags: ['registry'],
        operationId: 'listAgencyDevices',
        summary: "List an agency's devices with their status",
        description:
          'In registration order, at most `limit` (default and most 1000) per request: when more follow, the response header ' +
          '`x-next-after` names the last device listed; pass it as `after` for the next page (it keeps its place if that ' +
          'device moves to another agency meanwhile).',
        params: Type.Object({ agencyId: Type.String({ maxLength: 63 }) }),
        querystring: Type.Object({
          limit: Type.Optional(SafeUint({ minimum: 1, maximum: DEVICE_PAGE_MAX })),
          after: Type.Optional(DeviceIdParam),
        }),
        response: {
          200: Type.Array(DeviceView, {
            headers: { 'x-next-after': { type: 'string', description: 'present when more devices follow: the last device listed, to pass as `after`' } },
          }),
          ...readErrors,
        },
      },
    },
    async (req, reply) => {
      if (!registry.agencyById(req.params.agencyId)) throw new ApiError('NOT_FOUND', `no agency ${req.params.agencyId}`);
      // Paged (found by review): 10,000 devices in one answer took the event loop 0.4-0.7 s and ~10 MB per request.
      const { limit = DEVICE_PAGE_MAX, after } = req.query;
      const found = registry.devicesPage(req.params.agencyId, limit, after);
      if (!found) throw new ApiError('BAD_REQUEST', `after: ${after} is not a registered device`);
      const { page, more } = found;
      if (more) void reply.header('x-next-after', page[page.length - 1]!.deviceId);
      const now = nowSeconds();
      return page.map((d) => deviceView(registry, d, now));
    },
  );

  app.get(
    '/v1/devices/:deviceId',
    {
      schema: {
        tags: ['registry'],
        operationId: 'getDevice',
        summary: 'Show one device and its status',
        params: Type.Object({ deviceId: DeviceIdParam }),
        response: { 200: DeviceView, ...readErrors },
      },
    },
    async (req) => {
      const d = registry.deviceById(req.params.deviceId);
      if (!d) throw new ApiError('NOT_FOUND', `no device ${req.params.deviceId}`);
      return deviceView(registry, d, nowSeconds());
    },
  );
}
