/** originproof/protocol: the pure wire format, certificates and verification. No IO; runs in browsers. */
export * from './errors.js';
export * from './bytes.js';
export * from './cbor.js';
export * from './hash.js';
export * from './algorithms.js';
export * from './cose-key.js';
export * from './cose-sign1.js';
export * from './topics.js';
export * from './merkle/index.js';
