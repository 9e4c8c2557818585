/**
 * The gateway's TLS certificate and key for MQTT over TLS (and WebSocket over TLS), read and checked once at boot:
 * a file that cannot be read, is not PEM, holds a key that does not belong to the certificate, or a certificate
 * outside its validity period stops the start with a ConfigError naming the setting, instead of a listener that
 * fails every handshake later. TLS itself is node:tls (OpenSSL); nothing here touches the handshake.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../config.js';
import { readKeyFileWithMode } from '../key-file-exposure.js';

export interface TlsMaterial {
  /** PEM: the certificate chain and its private key, as node:tls takes them. */
  cert: string;
  key: string;
  /** The key file's mode, as read. */
  keyFileMode: number;
  /** The leaf certificate's subject and end of validity (shown at start). */
  subject: string;
  notAfter: Date;
}

/** The file's text and mode (a key file group or others may read is warned of: gateway/key-file-exposure.ts). */
async function readPem(setting: string, file: string): Promise<{ text: string; mode: number }> {
  try {
    return await readKeyFileWithMode(file);
  } catch (err) {
    throw new ConfigError('TLS_UNUSABLE', `invalid gateway configuration:\n  ${setting}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** What every TLS listener is made, and re-made on a reload, with: the certificate (chain), its key, TLS 1.2 or later. */
export function tlsServerOptions(m: Pick<TlsMaterial, 'cert' | 'key'>): { cert: string; key: string; minVersion: 'TLSv1.2' } {
  return { cert: m.cert, key: m.key, minVersion: 'TLSv1.2' };
}

const invalid = (setting: string, message: string) => new ConfigError('TLS_UNUSABLE', `invalid gateway configuration:\n  ${setting}: ${message}`);

/** Read and check the certificate (chain) and key files; `nowMs` is the gateway clock. */
export async function loadTlsMaterial(certFile: string, keyFile: string, nowMs: number): Promise<TlsMaterial> {
  const cert = (await readPem('tlsCertFile', certFile)).text;
  const { text: key, mode: keyFileMode } = await readPem('tlsKeyFile', keyFile);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert); // the first certificate in the file
  } catch (err) {
    throw invalid('tlsCertFile', `${certFile} does not hold a PEM certificate (${(err as Error).message})`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw invalid('tlsKeyFile', `${keyFile} does not hold a PEM private key (${(err as Error).message})`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw invalid('tlsKeyFile', `the key in ${keyFile} does not belong to the certificate in ${certFile}`);
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (nowMs < notBefore.getTime()) throw invalid('tlsCertFile', `the certificate in ${certFile} is not valid before ${notBefore.toISOString()}`);
  if (nowMs > notAfter.getTime()) throw invalid('tlsCertFile', `the certificate in ${certFile} expired on ${notAfter.toISOString()}`);
  try {
    createSecureContext(tlsServerOptions({ cert, key })); // what the listeners will do: any remaining OpenSSL objection surfaces here
  } catch (err) {
    throw invalid('tlsCertFile', `node:tls refuses the certificate and key: ${(err as Error).message}`);
  }
  return { cert, key, keyFileMode, subject: leaf.subject.replace(/\n/g, ', '), notAfter };
}
