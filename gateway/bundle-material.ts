/** The certificates and revocations a verifier needs beside an entry: the device's and its agency's. */
import type { LogEntry } from '../protocol/log-entry.js';
import { openReading } from '../protocol/reading.js';
import { bytesEqual } from '../protocol/bytes.js';
import type { Registry } from './registry.js';

export function bundleMaterial(registry: Registry, entry: LogEntry): { certificates: Uint8Array[]; revocations: Uint8Array[] } {
  if (entry.type !== 1) return { certificates: [], revocations: [] };
  const kid = openReading(entry.payload, { maxBytes: Number.MAX_SAFE_INTEGER }).kid;
  const device = registry.deviceByKid(kid);
  if (!device) return { certificates: [], revocations: [] };
  const certs = [device.cert, device.agency.cert];
  const revocations = registry.allRevocations().filter((r) => certs.some((c) => bytesEqual(c.certRef, r.claims.certRef)));
  return { certificates: certs.map((c) => c.bytes), revocations: revocations.map((r) => r.bytes) };
}
