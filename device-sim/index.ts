/** The device simulator: devices per firmware-specs/SPEC.md, onboarding, the fleet runner and its attacks. */
export * from './secure-element.js';
export * from './clock.js';
export * from './state.js';
export * from './kinds.js';
export * from './outbox.js';
export * from './connack.js';
export * from './answers.js';
export * from './log-watch.js';
export * from './device.js';
export * from './agency.js';
export * from './onboard.js';
export * from './attacks.js';
export * from './fleet.js';
export * from './latency.js';
export * from './backoff.js';
export * from './pki.js';
export * from './state-lock.js';
