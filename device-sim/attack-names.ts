/**
 * The fleet runner's attack modes by name, what the gateway must answer for each and a line of help: apart from
 * attacks.ts (which plays them over MQTT) so that the CLI can list them without loading the MQTT client.
 */
export const ATTACKS = [
  'tampered', 'replay', 'wrong-key', 'unregistered', 'revoked', 'expired', 'clock-skew', 'oversized', 'malformed', 'biometric-raw',
  'topic-mismatch', 'impersonate', 'token-replay',
] as const;
export type AttackName = (typeof ATTACKS)[number];

/** What the gateway must answer for each attack. */
export const EXPECTED: Readonly<Record<AttackName, string>> = {
  tampered: 'BAD_SIGNATURE',
  replay: 'REPLAY',
  'wrong-key': 'UNKNOWN_KEY',
  unregistered: 'CONNACK_NOT_AUTHORIZED',
  revoked: 'CERT_REVOKED',
  expired: 'CERT_EXPIRED',
  'clock-skew': 'CLOCK_SKEW',
  oversized: 'TOO_LARGE',
  malformed: 'MALFORMED',
  'biometric-raw': 'BIOMETRIC_RAW_DATA',
  'topic-mismatch': 'TOPIC_MISMATCH',
  impersonate: 'CONNACK_BAD_CREDENTIALS',
  'token-replay': 'CONNACK_BAD_CREDENTIALS',
};

export const ATTACK_HELP: Readonly<Record<AttackName, string>> = {
  tampered: 'a signed reading whose value was changed afterwards',
  replay: 'a different reading reusing a sequence number that already has a receipt',
  'wrong-key': 'a reading signed by a key no registered device has, sent by a registered device',
  unregistered: 'a device that was never registered tries to connect',
  revoked: 'a connected device keeps sending after its agency revoked it (and then tries to reconnect)',
  expired: 'a connected device keeps sending after its certificate expired',
  'clock-skew': 'a reading dated an hour ahead',
  oversized: 'a reading over the gateway size limit (under the MQTT frame cap)',
  malformed: 'a truncated COSE_Sign1',
  'biometric-raw': 'a biometric event carrying a fingerprint template (ISO 19794-2 FMR)',
  'topic-mismatch': "publishing on another device's readings topic",
  impersonate: "connecting with another device's id (token signed with the wrong key)",
  'token-replay': "connecting with a device's connect token seen on the wire after the device used it",
};

export function isAttackName(s: string): s is AttackName {
  return (ATTACKS as readonly string[]).includes(s);
}
