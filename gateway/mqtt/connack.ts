/**
 * CONNACK return codes (MQTT 3.1.1 §3.2.2.3) and which of them a refused CONNECT gets: the mapping firmware reads
 * back (SPEC §4's table: 3 = try again later with backoff, 4 = make a new token, 5 = the device may not connect now;
 * alert, and retry only after a long backoff).
 */
import type { AuthenticateError } from 'aedes';
import { OriginProofError, type ErrorCode } from '../../protocol/errors.js';
import { CONNACK } from '../../protocol/topics.js';

export { CONNACK };

/** CONNECTs refused before the token is looked at (SPEC §4's CONNACK table): not the device's credentials, its firmware. */
export const FIRMWARE_REFUSALS = ['PROTOCOL_VERSION', 'WILL_MESSAGE', 'USERNAME_MISMATCH', 'NO_TOKEN'] as const;
/** Why a CONNECT was refused (a closed set: the label values of originproof_mqtt_connects_refused_total). */
export type ConnectRefusal = ErrorCode | 'INTERNAL' | 'RATE_LIMITED' | (typeof FIRMWARE_REFUSALS)[number];

export function connackCodeFor(err: unknown): number {
  const code = err instanceof OriginProofError ? err.code : undefined;
  switch (code) {
    case 'UNKNOWN_DEVICE':
    case 'CERT_REVOKED':
    case 'CERT_EXPIRED':
    case 'CERT_NOT_YET_VALID':
    case 'CHAIN_INVALID':
    case 'ROLE_VIOLATION':
      return CONNACK.NOT_AUTHORIZED;
    case 'UNAVAILABLE':
    case 'STORAGE_UNAVAILABLE': // the token could not be recorded as used: try again later
      return CONNACK.SERVER_UNAVAILABLE;
    case 'TOPIC_MISMATCH':
      return CONNACK.IDENTIFIER_REJECTED;
    default:
      return CONNACK.BAD_CREDENTIALS; // malformed, expired or forged token
  }
}

/** The error aedes' authenticate callback takes to send CONNACK `code`. */
export function connackError(code: number, message: string): AuthenticateError {
  const err = new Error(message) as AuthenticateError;
  err.returnCode = code;
  return err;
}
