/**
 * MQTT topics per device id D (DESIGN.md, firmware-specs/SPEC.md §4): op/v1/d/D/{readings,receipts,rejections}.
 * Readings are published at QoS 1; the gateway sends receipts and rejections at QoS 0 (device-connections.ts).
 */
import { fail } from './errors.js';
import { isUeidHex } from './device-id.js';

export const TOPIC_PREFIX = 'op/v1/d/';
/** The QoS a device publishes its readings at (SPEC §4). */
export const TOPIC_QOS = 1;
export type TopicKind = 'readings' | 'receipts' | 'rejections';
const KINDS: readonly TopicKind[] = ['readings', 'receipts', 'rejections'];

/** D: 34 lowercase hex characters of a RAND UEID (starts with 01). */
export function isDeviceIdHex(id: string): boolean {
  return isUeidHex(id);
}

function topic(deviceIdHex: string, kind: TopicKind): string {
  if (!isUeidHex(deviceIdHex)) fail('CLAIM_INVALID', 'device id must be 34 lowercase hex characters', 'deviceId');
  return `${TOPIC_PREFIX}${deviceIdHex}/${kind}`;
}

export const readingsTopic = (d: string): string => topic(d, 'readings');
export const receiptsTopic = (d: string): string => topic(d, 'receipts');
export const rejectionsTopic = (d: string): string => topic(d, 'rejections');

/** Parse one of our topics; null for anything else (wildcards, extra levels, other prefixes). */
export function parseTopic(t: string): { deviceIdHex: string; deviceId: string; kind: TopicKind } | null {
  const parts = t.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}/${parts[2]}/` !== TOPIC_PREFIX) return null;
  const [, , , d, kind] = parts as [string, string, string, string, string];
  if (!isUeidHex(d) || !(KINDS as readonly string[]).includes(kind)) return null;
  return { deviceIdHex: d, deviceId: d, kind: kind as TopicKind };
}

/** A device may publish readings only on its own readings topic (TOPIC_MISMATCH otherwise). */
export function assertReadingsTopic(t: string, clientDeviceIdHex: string): void {
  const p = parseTopic(t);
  if (!p || p.kind !== 'readings' || p.deviceIdHex !== clientDeviceIdHex) {
    fail('TOPIC_MISMATCH', `device ${clientDeviceIdHex} may publish only on ${TOPIC_PREFIX}${clientDeviceIdHex}/readings`, 'topic');
  }
}

/**
 * MQTT 3.1.1 CONNACK return codes (§3.2.2.3) and what each means for a device (SPEC §4, its table): 3 try again later
 * with backoff, 4 make a new token (or fix the clock), 5 the device may not connect now (not registered, certificate
 * not valid at the gateway's time, revoked): alert, and try again only after a long backoff.
 */
export const CONNACK = { BAD_PROTOCOL: 1, IDENTIFIER_REJECTED: 2, SERVER_UNAVAILABLE: 3, BAD_CREDENTIALS: 4, NOT_AUTHORIZED: 5 } as const;
