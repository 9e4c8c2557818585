/**
 * How a device's connection attempt ends: its CONNACK, read from mqtt.js, as the device's own errors (SPEC §4: the
 * return code decides whether to retry with backoff, make a new token, or stop).
 */
import type { MqttClient } from 'mqtt';
import { CONNACK } from '../protocol/index.js';

/** CONNACK return codes by number, as the device reports them: 4 -> 'CONNACK_BAD_CREDENTIALS'. */
export const CONNACK_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(CONNACK).map(([name, code]) => [code, `CONNACK_${name}`]));

/** A connection attempt given up because close() was called meanwhile. */
export class DeviceClosed extends Error {
  override readonly name = 'DeviceClosed';
  constructor() {
    super('device closed while connecting');
  }
}

export class ConnackRefused extends Error {
  override readonly name = 'ConnackRefused';
  constructor(readonly returnCode: number) {
    super(`connection refused: ${CONNACK_NAMES[returnCode] ?? returnCode}`);
  }
  get code(): string {
    return CONNACK_NAMES[this.returnCode] ?? `CONNACK_${this.returnCode}`;
  }
}

/** Resolves on the client's CONNACK; rejects on a refusal (ConnackRefused), an error, or a close before it. */
export function connackOf(client: MqttClient): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error & { code?: unknown }) => {
      cleanup();
      client.end(true);
      reject(typeof err.code === 'number' ? new ConnackRefused(err.code) : err);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('connection closed before CONNACK'));
    };
    const onConnect = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      client.off('error', onError);
      client.off('close', onClose);
      client.off('end', onClose);
      client.off('connect', onConnect);
    };
    client.on('error', onError);
    client.on('close', onClose);
    client.on('end', onClose); // ended by close() before it connected
    client.on('connect', onConnect);
  });
}
