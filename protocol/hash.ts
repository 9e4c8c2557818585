/** SHA-256 (FIPS 180-4), pure. Hot paths on Node may inject node:crypto through the same signature. */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';

export type Hasher = (data: Uint8Array) => Uint8Array;

export const sha256: Hasher = (data) => nobleSha256(data);
