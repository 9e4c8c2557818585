/** originproof/ledger: the LevelDB-backed verifiable log (depends on protocol/; the gateway depends on it). */
export * from './backend.js';
export * from './errors.js';
export * from './level-backend.js';
export * from './ledger.js';
export * from './queries.js';
export * from './signer.js';
export * from './hasher.js';
export { TILE_WIDTH } from './keys.js';
export * from './verify.js';
