/**
 * The certificates and revocations a verifier needs beside an entry: the device certificate the entry was admitted
 * under (by its certRef, even if the device has a newer one since) and the agency certificate valid at the reading's
 * time, with the strictest revocation of each.
 */
import type { LogEntry } from '../protocol/log-entry.js';
import { openReading } from '../protocol/reading.js';
import type { Registry } from './registry.js';

export function bundleMaterial(registry: Registry, entry: LogEntry): { certificates: Uint8Array[]; revocations: Uint8Array[] } {
  if (entry.type !== 1) return { certificates: [], revocations: [] };
  const reading = openReading(entry.payload, { maxBytes: Number.MAX_SAFE_INTEGER });
  const device = (entry.certRef && registry.certificateByRef(entry.certRef)) || registry.deviceByKid(reading.kid)?.cert;
  if (!device) return { certificates: [], revocations: [] };
  const agency = registry.agencyCertificateAt(device.issuerKid, reading.claims.iat);
  const certs = agency ? [device, agency] : [device];
  return { certificates: certs.map((c) => c.bytes), revocations: registry.revocationsOf(certs).map((r) => r.bytes) };
}
