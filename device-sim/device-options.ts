/** What a simulated device (device.ts) is made with: its state, secure element, clock, timers and overrides. */
import type { DeviceClock } from './clock.js';
import type { Generator } from './kinds.js';
import type { SecureElement } from './secure-element.js';
import type { DeviceStateFile } from './state.js';

export interface DeviceOptions {
  state: DeviceStateFile;
  /** Where the state lives (and the outbox, next to it); without it both are kept in memory only. */
  statePath?: string;
  /** Coalesce outbox writes for up to this long (fewer writes, more latency); default 0: group commit only. */
  outboxFlushMs?: number;
  se: SecureElement;
  clock?: DeviceClock;
  /** First resend after this long without an answer (SPEC §7 suggests 30 s), doubling up to maxResendMs. */
  resendTimeoutMs?: number;
  maxResendMs?: number;
  /**
   * Reconnect backoff: the first delay is in [min/2, min), each step doubling up to max (equal jitter, backoff.ts);
   * back to the first step once a connection shows the gateway takes readings (a receipt that holds, or nothing kept to resend).
   */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /**
   * Retries after CONNACK 5 (not authorized, SPEC §4), on their own longer schedule: default from 1 min, doubling up
   * to 10 min, with the same jitter.
   */
  notAuthorizedMinMs?: number;
  notAuthorizedMaxMs?: number;
  /** Numbers in [0, 1) for the reconnect jitter; default Math.random (tests pass a fixed source). */
  random?: () => number;
  tokenLifetimeSeconds?: number;
  /**
   * Override the gateway's addresses from the state file (`sim run --mqtt`, `--gateway`, `--ca`), for this object
   * only: the state file keeps the provisioned ones (a run against a gateway moved for the occasion must not move
   * the device for good).
   */
  mqttUrl?: string;
  httpUrl?: string;
  tlsCa?: string;
  generator?: Generator;
  /** Where the device's alert lines go (a rollback of the log); default stderr. */
  log?: (line: string) => void;
}
