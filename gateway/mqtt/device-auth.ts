/**
 * The check behind MQTT CONNECT (broker.ts `authenticate`): a registered device usable now, and a connect token it
 * signed for this client id and this gateway (`aud` = the gateway id), dated later than the last one accepted from
 * it (connect-token-order.ts). Throws the OriginProofError whose code decides the CONNACK (connack.ts
 * `connackCodeFor`).
 */
import type { SignatureVerifier } from '../../protocol/algorithms.js';
import { verifyConnectToken } from '../../protocol/connect-token.js';
import { fail } from '../../protocol/errors.js';
import type { Registry } from '../registry.js';
import type { ConnectTokenOrder } from './connect-token-order.js';

export interface DeviceAuthOptions {
  registry: Pick<Registry, 'deviceById' | 'assertDeviceUsableAt'>;
  /** The main thread's verifier (its KeyObject cache): a token is checked once per connection. */
  verifier: SignatureVerifier;
  gatewayId: string;
  skewSeconds: number;
  nowS: () => number;
  /** Each device's last accepted token (ConnectTokenOrder.load from the store). */
  order: ConnectTokenOrder;
}

/** Throws, or resolves once the token is taken for good (durable); the CONNACK waits for it. */
export type DeviceAuthenticator = (deviceId: string, token: Uint8Array) => Promise<void> | undefined;

export function deviceAuthenticator(o: DeviceAuthOptions): DeviceAuthenticator {
  const order = o.order;
  return (deviceId, token) => {
    const now = o.nowS();
    const device = o.registry.deviceById(deviceId);
    if (!device) fail('UNKNOWN_DEVICE', `device ${deviceId} is not registered`);
    o.registry.assertDeviceUsableAt(device, now);
    const t = verifyConnectToken(token, device.cert, deviceId, now, { audience: o.gatewayId, skewSeconds: o.skewSeconds, verifier: o.verifier });
    return order.take(device.deviceId, t.iat); // only now: a token whose signature failed must not move the device's order
  };
}
