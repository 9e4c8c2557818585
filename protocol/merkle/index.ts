/** Pure RFC 9162 Merkle tree core: hashing, proof verification and generation, compact ranges. */
export * from './hasher.js';
export * from './verify.js';
export * from './prove.js';
export * from './compact.js';
