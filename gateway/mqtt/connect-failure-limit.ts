/**
 * A budget of refused CONNECTs per client address. A CONNECT naming a registered device costs a signature check on
 * the event loop (its connect token, device-auth.ts); the pending-connection cap bounds how many run at once, not
 * how many run per second, so one client sending CONNECTs with made-up tokens for a known device id could keep the
 * loop busy with checks that all fail. Each address may fail `perMinute` times in a burst and `perMinute` per minute
 * after that; over it, its CONNECTs are refused (CONNACK 3, try again later) before any check, until the budget has
 * refilled. Only refusals of the device and token check count: a fleet behind one NAT address that connects
 * properly is never limited, however many devices it has, and a device that is refused as limited has its token
 * untouched (SPEC §4: CONNACK 3).
 *
 * Addresses are grouped as a client holds them: IPv4 by address, IPv6 by its /64 (the smallest prefix a site or a
 * hosting customer is given, RFC 6177), so an attacker cannot walk the 2^64 addresses of its own subnet.
 */
import ipaddr from 'ipaddr.js';

/** Longest key kept for a client "address" that is not an IP address (the longest IPv6 text is 45 characters). */
const MAX_TEXT_KEY_CHARS = 64;

/**
 * The key an address counts under: an IPv4 address (IPv4-mapped IPv6 too), an IPv6 /64, or the text as given, cut to
 * MAX_TEXT_KEY_CHARS: behind a trusted proxy the address is whatever X-Forwarded-For names, and 50,000 budgets keyed
 * by 16 KiB header values each would be ~800 MB.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return '';
  if (!ipaddr.isValid(address)) return address.slice(0, MAX_TEXT_KEY_CHARS);
  const ip = ipaddr.process(address); // ::ffff:a.b.c.d -> a.b.c.d
  if (ip.kind() === 'ipv4') return ip.toString();
  const parts = (ip as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16));
  return `${parts.join(':')}::/64`;
}

/** Most client addresses whose budgets are kept (docs/DESIGN.md): the one that failed longest ago is forgotten first. */
export const MAX_TRACKED_ADDRESSES = 50_000;

interface Budget {
  tokens: number;
  atMs: number;
  /** Its running out was reported; reported again only after it has refilled whole. */
  reported: boolean;
}

export class ConnectFailureLimit {
  private readonly budgets = new Map<string, Budget>();
  private readonly perMs: number;

  /**
   * `perMinute`: failures allowed in a burst and refilled per minute (0: no limit). `maxAddresses`: most addresses
   * tracked; over it the one that failed longest ago is forgotten (it gets a full budget again).
   */
  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
    private readonly maxAddresses = MAX_TRACKED_ADDRESSES,
  ) {
    this.perMs = perMinute / 60_000;
  }

  /** Whether a CONNECT from `key` may be checked now. */
  allows(key: string): boolean {
    if (this.perMinute === 0) return true;
    const budget = this.budgets.get(key);
    return budget === undefined || this.refilled(budget) >= 1;
  }

  /**
   * A CONNECT from `key` failed its check. True when this failure used up the address's budget for the first time
   * since it was last full: an address that keeps trying is reported once, not at every refill.
   */
  failed(key: string): boolean {
    if (this.perMinute === 0) return false;
    const budget = this.budgets.get(key);
    // Checks already running when the budget ran out still count, down to a minute's worth owed: a refused address
    // waits at most two minutes.
    const before = budget ? this.refilled(budget) : this.perMinute;
    const tokens = Math.max(-this.perMinute, before - 1);
    const wasReported = budget !== undefined && budget.reported && before < this.perMinute;
    const report = tokens < 1 && !wasReported;
    this.budgets.delete(key); // re-inserted last: the map's order is the order of the latest failure
    this.budgets.set(key, { tokens, atMs: this.now(), reported: wasReported || report });
    if (this.budgets.size > this.maxAddresses) this.budgets.delete(this.budgets.keys().next().value as string);
    return report;
  }

  /** Addresses tracked (one that has refilled is forgotten only when the map is full). */
  get tracked(): number {
    return this.budgets.size;
  }

  private refilled(b: Budget): number {
    return Math.min(this.perMinute, b.tokens + (this.now() - b.atMs) * this.perMs);
  }
}
