/** Shared TypeBox schemas of the HTTP API (validation, serialization, types and OpenAPI from one source). */
import { Type, type Static } from '@sinclair/typebox';

export const ErrorBody = Type.Object(
  {
    code: Type.String({ description: 'stable error code (README "Error codes")' }),
    message: Type.String(),
    path: Type.Optional(Type.String({ description: 'the offending field' })),
  },
  { $id: 'ErrorBody' },
);

export const Base64 = Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$', maxLength: 65536, description: 'standard base64' });
export const Hex32 = Type.String({ pattern: '^[0-9a-f]{64}$' });
export const DeviceIdParam = Type.String({ pattern: '^[0-9a-f]{34}$', description: 'device id (34 hex chars)' });

export const DeviceStatus = Type.Union([
  Type.Literal('active'),
  Type.Literal('revoked'),
  Type.Literal('expired'),
  Type.Literal('not-yet-valid'),
  Type.Literal('agency-revoked'),
]);

export const Profile = Type.Object({
  kind: Type.String(),
  readingTypes: Type.Array(Type.String()),
  firmware: Type.String({ description: 'expected firmware measurement, hex' }),
});

export const DeviceView = Type.Object({
  deviceId: Type.String(),
  agency: Type.String(),
  status: DeviceStatus,
  alg: Type.String(),
  kid: Type.String(),
  certRef: Type.String(),
  notBefore: Type.Integer(),
  notAfter: Type.Integer(),
  profile: Profile,
  registeredAt: Type.Integer({ description: 'log index of the registration entry' }),
  revokedFrom: Type.Optional(Type.Integer()),
  revocationReason: Type.Optional(Type.String()),
  certificate: Base64,
});
export type DeviceViewT = Static<typeof DeviceView>;

export const AgencyView = Type.Object({
  id: Type.String(),
  kid: Type.String(),
  certRef: Type.String(),
  issuer: Type.String(),
  notBefore: Type.Integer(),
  notAfter: Type.Integer(),
  registeredAt: Type.Integer(),
  revoked: Type.Boolean(),
  revokedFrom: Type.Optional(Type.Integer()),
  devices: Type.Integer(),
  certificate: Base64,
});
export type AgencyViewT = Static<typeof AgencyView>;

export const errorResponses = {
  400: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  413: ErrorBody,
  422: ErrorBody,
  429: ErrorBody,
  503: ErrorBody,
};
