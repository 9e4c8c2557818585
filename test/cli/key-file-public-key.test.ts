/**
 * A key file says which key it is: `keys generate` writes the public key ("publicKey", hex, as the .pub.json has it)
 * beside the secret, and every loader of such a file checks, when the field is there, that the secret's public key
 * under the file's alg is that one, else MALFORMED naming the file, neither key quoted (the gateway's checkpoint keys:
 * CHECKPOINT_KEY_UNUSABLE, its start code for a key file that is not its key). Files without the field (written
 * before it) are accepted. Found by the CLI review: an es256 key file holding an Ed25519 seed was accepted (any 32 bytes
 * are a P-256 scalar), and a secretKey with a digit changed silently became another key.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadSigner } from '../../cli/commands/keys.js';
import { Agency } from '../../device-sim/agency.js';
import { createSecureElement, loadSecureElement, saveSecureElement } from '../../device-sim/secure-element.js';
import { CHECKPOINT_KEY_FILE, loadOrCreateCheckpointKey } from '../../gateway/checkpoint-key.js';
import { loadNextCheckpointKey, NEXT_CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-next-key.js';
import { ALG_EDDSA, ALG_ES256, generateSecretKey, nobleSigner, toHex } from '../../protocol/index.js';
import { cliSandbox } from './cli-sandbox.js';

const { p, cli } = cliSandbox('op-key-pub-');

type KeyJson = { alg: string; secretKey: string; publicKey?: string };
const readKey = (file: string) => JSON.parse(readFileSync(p(file), 'utf8')) as KeyJson;
const writeKey = (file: string, j: object) => writeFileSync(p(file), JSON.stringify(j) + '\n', { mode: 0o600 });
const withoutPublicKey = ({ publicKey: _drop, ...rest }: KeyJson) => rest;

// An Ed25519 seed and its public key, and another key's public key (what a mixed-up or damaged file would state).
const seed = generateSecretKey(ALG_EDDSA);
const edPublic = toHex(nobleSigner(ALG_EDDSA, seed).publicKey);
const otherPublic = (alg: typeof ALG_EDDSA | typeof ALG_ES256) => toHex(nobleSigner(alg, generateSecretKey(alg)).publicKey);

/** The error is MALFORMED, names the file and quotes neither the secret nor a public key. */
function expectMalformed(f: () => unknown, file: string, secrets: string[]): void {
  let err: (Error & { code?: unknown }) | undefined;
  try {
    f();
  } catch (e) {
    err = e as Error & { code?: unknown };
  }
  expect(err?.code, err?.message).toBe('MALFORMED');
  expect(err!.message).toContain(file);
  for (const s of secrets) expect(err!.message).not.toContain(s);
}

describe('keys generate writes the public key into the key file', () => {
  test.each(['ed25519', 'es256'])('%s: publicKey as in the .pub.json', (alg) => {
    expect(cli('keys', 'generate', '--alg', alg, '--out', alg).code).toBe(0);
    const pub = JSON.parse(readFileSync(p(`${alg}.pub.json`), 'utf8')) as { publicKey: string };
    expect(readKey(`${alg}.key`)).toEqual({ alg, secretKey: expect.stringMatching(/^[0-9a-f]{64}$/), publicKey: pub.publicKey });
    expect(cli('keys', 'prove', '--key', `${alg}.key`, '--agency', 'psb.example', '--out', `${alg}.pop`).code).toBe(0);
  });
});

describe("the CLI's key files (loadSigner)", () => {
  test("publicKey another key's: MALFORMED, exit 2 with keys prove", () => {
    const k = readKey('es256.key');
    writeKey('mixed.key', { ...k, publicKey: otherPublic(ALG_ES256) });
    expectMalformed(() => loadSigner(p('mixed.key')), 'mixed.key', [k.secretKey]);
    const r = cli('keys', 'prove', '--key', 'mixed.key', '--agency', 'psb.example', '--out', 'mixed.pop');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(/^originproof: \[MALFORMED\] mixed\.key: its publicKey is not/);
    expect(r.err).not.toContain(k.secretKey);
  });

  test('an Ed25519 seed under "alg": "es256" with its Ed25519 publicKey: MALFORMED', () => {
    writeKey('seed-as-es256.key', { alg: 'es256', secretKey: toHex(seed), publicKey: edPublic });
    expectMalformed(() => loadSigner(p('seed-as-es256.key')), 'seed-as-es256.key', [toHex(seed), edPublic]);
  });

  test('without publicKey (a file written before it): accepted', () => {
    writeKey('old.key', withoutPublicKey(readKey('ed25519.key')));
    expect(toHex(loadSigner(p('old.key')).publicKey)).toBe(readKey('ed25519.key').publicKey);
  });
});

describe("the simulator's agency key (Agency.load)", () => {
  test('another key\'s publicKey, or an Ed25519 seed under es256: MALFORMED; without publicKey: loaded', () => {
    expect(cli('cert', 'root', '--key', 'ed25519.key', '--id', 'root.example', '--days', '30', '--out', 'root.cert').code).toBe(0);
    expect(cli('cert', 'agency', '--issuer-key', 'ed25519.key', '--issuer-cert', 'root.cert', '--subject-key', 'es256.pub.json', '--id', 'psb.example', '--days', '30', '--out', 'psb.cert').code).toBe(0);
    const k = readKey('es256.key');
    writeKey('agency-mixed.key', { ...k, publicKey: otherPublic(ALG_ES256) });
    expectMalformed(() => Agency.load(p('agency-mixed.key'), p('psb.cert')), 'agency-mixed.key', [k.secretKey]);
    writeKey('agency-seed.key', { alg: 'es256', secretKey: toHex(seed), publicKey: edPublic });
    expectMalformed(() => Agency.load(p('agency-seed.key'), p('psb.cert')), 'agency-seed.key', [toHex(seed), edPublic]);
    writeKey('agency-old.key', withoutPublicKey(k));
    expect(Agency.load(p('agency-old.key'), p('psb.cert')).id).toBe('psb.example');
    expect(Agency.load(p('es256.key'), p('psb.cert')).id).toBe('psb.example');
  });
});

describe("a simulated device's sealed key (loadSecureElement)", () => {
  test.each(['noble', 'node'] as const)('%s backend: saved with its publicKey, loaded back', (backend) => {
    const se = createSecureElement(ALG_ES256, backend);
    saveSecureElement(se, p(`${backend}.se.json`));
    expect(JSON.parse(readFileSync(p(`${backend}.se.json`), 'utf8'))).toMatchObject({ backend, publicKey: toHex(se.publicKey) });
    expect(toHex(loadSecureElement(p(`${backend}.se.json`)).publicKey)).toBe(toHex(se.publicKey));
  });

  test.each(['noble', 'node'] as const)("%s backend: another key's publicKey: MALFORMED; without it: loaded", (backend) => {
    const j = JSON.parse(readFileSync(p(`${backend}.se.json`), 'utf8')) as Record<string, unknown>;
    writeKey(`${backend}-mixed.se.json`, { ...j, publicKey: otherPublic(ALG_ES256) });
    expectMalformed(() => loadSecureElement(p(`${backend}-mixed.se.json`)), `${backend}-mixed.se.json`, [String(j.secretKey ?? j.pkcs8)]);
    const { publicKey, ...old } = j;
    writeKey(`${backend}-old.se.json`, old);
    expect(toHex(loadSecureElement(p(`${backend}-old.se.json`)).publicKey)).toBe(publicKey);
  });

  test('an Ed25519 seed sealed under ES256 with its Ed25519 publicKey (noble), or an Ed25519 PKCS#8 key under ES256 (node): MALFORMED', () => {
    writeKey('seed.se.json', { backend: 'noble', alg: ALG_ES256, secretKey: toHex(seed), publicKey: edPublic });
    expectMalformed(() => loadSecureElement(p('seed.se.json')), 'seed.se.json', [toHex(seed), edPublic]);
    const pkcs8 = (generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer).toString('base64');
    writeKey('ed-pkcs8.se.json', { backend: 'node', alg: ALG_ES256, pkcs8 });
    expectMalformed(() => loadSecureElement(p('ed-pkcs8.se.json')), 'ed-pkcs8.se.json', [pkcs8]);
  });
});

describe("the gateway's checkpoint keys (readKeyFile)", () => {
  const unusable = async (load: () => Promise<unknown>, file: string, secret: string) => {
    const err = (await load().then(() => null, (e: unknown) => e)) as (Error & { code?: unknown }) | null;
    expect(err?.code, err?.message).toBe('CHECKPOINT_KEY_UNUSABLE');
    expect(err!.message).toContain(file);
    expect(err!.message).toContain('its publicKey is not');
    expect(err!.message).not.toContain(secret);
  };

  test("the current key's file with another key's publicKey: CHECKPOINT_KEY_UNUSABLE; without publicKey: loaded", async () => {
    const data = p('gw-data');
    const made = await loadOrCreateCheckpointKey(data);
    const file = join(data, CHECKPOINT_KEY_FILE);
    const j = JSON.parse(readFileSync(file, 'utf8')) as KeyJson;
    expect(j.publicKey).toBe(toHex(made.signer.publicKey));
    writeFileSync(file, JSON.stringify({ ...j, publicKey: otherPublic(ALG_EDDSA) }));
    await unusable(() => loadOrCreateCheckpointKey(data), file, j.secretKey);
    writeFileSync(file, JSON.stringify(withoutPublicKey(j)));
    expect(toHex((await loadOrCreateCheckpointKey(data)).signer.publicKey)).toBe(j.publicKey);
  });

  test("an announced next key's file with a secretKey digit changed: CHECKPOINT_KEY_UNUSABLE", async () => {
    const data = p('gw-next');
    mkdirSync(data);
    const secret = generateSecretKey(ALG_EDDSA);
    const damaged = toHex(secret).replace(/^./, (c) => (c === '0' ? '1' : '0'));
    writeFileSync(join(data, NEXT_CHECKPOINT_KEY_FILE), JSON.stringify({ alg: 'ed25519', secretKey: damaged, publicKey: toHex(nobleSigner(ALG_EDDSA, secret).publicKey), createdAt: new Date().toISOString() }));
    await unusable(() => loadNextCheckpointKey(data), NEXT_CHECKPOINT_KEY_FILE, damaged);
  });
});
