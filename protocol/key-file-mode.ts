/**
 * A secret key file's mode when group or others may read or write it (POSIX `mode & 0o077`: what ssh refuses for a
 * private key), as octal text ("0644"); undefined when only its owner may, and always on Windows (no such bits). Here,
 * as json-error.ts, because the gateway's key files and the CLI's and simulator's (device-sim/json-file.ts) are
 * checked alike, and neither side depends on the other. `platform`: node's process.platform.
 */
export function exposedKeyFileMode(mode: number, platform: string): string | undefined {
  if (platform === 'win32' || (mode & 0o077) === 0) return undefined;
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}
