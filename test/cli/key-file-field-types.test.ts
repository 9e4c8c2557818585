/**
 * A key file whose fields are of the wrong type (an alg or a publicKey that is a number or an object, a pkcs8 that is
 * not base64 of a key) is refused with a code naming the file, by every loader: never a TypeError or node's own error
 * escaping (found by review: `"alg": 1` threw "toLowerCase is not a function" from loadSigner and Agency.load, a public
 * key file's numeric publicKey the hex library's codeless error, a sealed key's numeric pkcs8 node's
 * ERR_INVALID_ARG_TYPE). And a publicKey is read alike by all of them: any case of hex digits is the same key; with
 * "0x" or spaces it is no key's, refused with each loader's code.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadPublicKey, loadSigner } from '../../cli/commands/keys.js';
import { Agency } from '../../device-sim/agency.js';
import { loadSecureElement } from '../../device-sim/secure-element.js';
import { CHECKPOINT_KEY_FILE, loadOrCreateCheckpointKey } from '../../gateway/checkpoint-key.js';
import { ALG_EDDSA, ALG_ES256, generateSecretKey, nobleSigner, toHex } from '../../protocol/index.js';
import { cliSandbox } from './cli-sandbox.js';

const { p } = cliSandbox('op-key-types-');
const write = (file: string, j: unknown) => writeFileSync(p(file), JSON.stringify(j) + '\n', { mode: 0o600 });

const seed = generateSecretKey(ALG_EDDSA);
const pub = toHex(nobleSigner(ALG_EDDSA, seed).publicKey);

/** The code `f` throws with (undefined: none, as a TypeError has); its message names `file`. */
function codeOf(f: () => unknown, file?: string): unknown {
  try {
    f();
  } catch (e) {
    const err = e as Error & { code?: unknown };
    if (file !== undefined && typeof err.code === 'string' && !err.code.startsWith('ERR_')) expect(err.message).toContain(file);
    return err instanceof TypeError ? `TypeError: ${err.message}` : err.code;
  }
  return 'loaded';
}

describe('fields of the wrong type: MALFORMED naming the file', () => {
  test.each([{ alg: 1 }, { alg: true }, { alg: ['ed25519'] }, { alg: { name: 'ed25519' } }])('a key file with "alg": $alg (loadSigner, Agency.load)', ({ alg }) => {
    write('alg.key', { alg, secretKey: toHex(seed), publicKey: pub });
    expect(codeOf(() => loadSigner(p('alg.key')), 'alg.key')).toBe('MALFORMED');
    expect(codeOf(() => Agency.load(p('alg.key'), p('no.cert')), 'alg.key')).toBe('MALFORMED');
  });

  test('a key file with an unknown alg name: ALG_NOT_ALLOWED from both (Agency.load threw a bare Error)', () => {
    write('alg-name.key', { alg: 'rsa', secretKey: toHex(seed) });
    expect(codeOf(() => loadSigner(p('alg-name.key')), 'alg-name.key')).toBe('ALG_NOT_ALLOWED');
    expect(codeOf(() => Agency.load(p('alg-name.key'), p('no.cert')), 'alg-name.key')).toBe('ALG_NOT_ALLOWED');
  });

  test.each([1, { hex: pub }, '0x' + pub, 'zz'])('a public key file with "publicKey": %j (loadPublicKey)', (publicKey) => {
    write('k.pub.json', { alg: 'ed25519', publicKey });
    expect(codeOf(() => loadPublicKey(p('k.pub.json')), 'k.pub.json')).toBe('MALFORMED');
  });

  test('a public key file with "alg": 7 (loadPublicKey)', () => {
    write('alg.pub.json', { alg: 7, publicKey: pub });
    expect(codeOf(() => loadPublicKey(p('alg.pub.json')), 'alg.pub.json')).toBe('MALFORMED');
  });

  test.each([7, { der: 'x' }, 'bm90IGEga2V5'])('a sealed key with "pkcs8": %j (loadSecureElement, node backend)', (pkcs8) => {
    write('bad.se.json', { backend: 'node', alg: ALG_ES256, pkcs8 });
    expect(codeOf(() => loadSecureElement(p('bad.se.json')), 'bad.se.json')).toBe('MALFORMED');
  });

  test.each([1, null, { hex: 'x' }])('a key file with "publicKey": %j: refused by every loader with its code', async (publicKey) => {
    write('pk.key', { alg: 'ed25519', secretKey: toHex(seed), publicKey });
    expect(codeOf(() => loadSigner(p('pk.key')), 'pk.key')).toBe('MALFORMED');
    const data = p('gw-pk');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, CHECKPOINT_KEY_FILE), JSON.stringify({ alg: 'ed25519', secretKey: toHex(seed), publicKey }));
    const err = (await loadOrCreateCheckpointKey(data).then(() => null, (e: unknown) => e)) as { code?: unknown } | null;
    expect(err?.code).toBe('CHECKPOINT_KEY_UNUSABLE');
  });
});

describe('a publicKey is read alike by every loader', () => {
  let dirs = 0;
  const loaders = async (publicKey: string, secretKey = toHex(seed)): Promise<unknown[]> => {
    write('same.key', { alg: 'ed25519', secretKey, publicKey });
    const data = p(`gw-same-${dirs++}`);
    mkdirSync(join(data, 'ledger'), { recursive: true });
    writeFileSync(join(data, CHECKPOINT_KEY_FILE), JSON.stringify({ alg: 'ed25519', secretKey, publicKey }));
    const gateway = await loadOrCreateCheckpointKey(data, { logDir: join(data, 'ledger') }).then((k) => (toHex(k.signer.publicKey) === pub ? 'loaded' : 'another key'), (e: { code?: unknown }) => e.code);
    write('same.se.json', { backend: 'noble', alg: ALG_EDDSA, secretKey, publicKey });
    return [codeOf(() => loadSigner(p('same.key'))), codeOf(() => loadSecureElement(p('same.se.json'))), gateway];
  };

  test('upper case hex: the same key, loaded by all', async () => {
    expect(await loaders(pub.toUpperCase())).toEqual(['loaded', 'loaded', 'loaded']);
  });

  test("a secretKey in upper case hex too: loaded by all (the gateway's checkpoint key refused it, CHECKPOINT_KEY_UNUSABLE, where the CLI took it)", async () => {
    expect(await loaders(pub.toUpperCase(), toHex(seed).toUpperCase())).toEqual(['loaded', 'loaded', 'loaded']);
  });

  test('"0x"-prefixed, or with a space: refused by all (MALFORMED; the gateway CHECKPOINT_KEY_UNUSABLE)', async () => {
    expect(await loaders(`0x${pub}`)).toEqual(['MALFORMED', 'MALFORMED', 'CHECKPOINT_KEY_UNUSABLE']);
    expect(await loaders(` ${pub}`)).toEqual(['MALFORMED', 'MALFORMED', 'CHECKPOINT_KEY_UNUSABLE']);
  });
});
