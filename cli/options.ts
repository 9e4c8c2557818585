/**
 * Numeric options as the CLI takes them: decimal digits only. `Number()` alone read "2027-01-01" as NaN, and a NaN
 * time passed every validity comparison (`cert verify --at 2027-01-01` answered VALID for a revoked chain).
 * MALFORMED (exit 2: no verdict) for anything else.
 */
import { fromHex } from '../protocol/bytes.js';
import { fail } from '../protocol/errors.js';

export function uintOption(v: number | string, name: string, min = 0): number {
  const n = typeof v === 'number' ? v : /^\d{1,16}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min) fail('MALFORMED', `--${name} must be a whole number >= ${min}, got ${String(v)}`, name);
  return n;
}

/** The last second of year 9999 (RFC 3339's last representable time), in Unix seconds. */
export const MAX_UNIX_SECONDS = 253_402_300_799;

/**
 * A time option in Unix seconds; absent: now. Bounded by year 9999: a time in milliseconds (13 digits today) was taken
 * as seconds near year 57,000, so `cert revoke --from <ms>` scheduled a revocation that never takes effect (found by
 * the registry review).
 */
export function timeOption(v: number | string | undefined, name: string): number {
  if (v === undefined) return Math.floor(Date.now() / 1000);
  const t = uintOption(v, name);
  if (t > MAX_UNIX_SECONDS) fail('MALFORMED', `--${name} is Unix seconds (at most ${MAX_UNIX_SECONDS}, year 9999), got ${String(v)}: milliseconds?`, name);
  return t;
}

/** A hex option (`--nonce`, `--firmware`): pairs of hex digits, either case; the hex library's own error named no option. */
export function hexOption(v: string, name: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(v)) fail('MALFORMED', `--${name} must be hex (pairs of digits 0-9, a-f), got ${v}`, name);
  return fromHex(v);
}
