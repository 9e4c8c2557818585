/**
 * SPEC §1/§4: D is lowercase hex (Conventions: "Hex is lowercase"), in the client id, the username and the topics. A
 * firmware that prints it in uppercase (printf %02X) is, to the gateway, another device: its CONNECT is refused as an
 * unregistered device's (CONNACK 5, UNKNOWN_DEVICE), and uppercase topics are not its own (SUBACK 0x80, TOPIC_MISMATCH).
 */
import { describe, expect, test } from 'vitest';
import { plainMqttUrl } from '../../gateway/gateway.js';
import { decodeRejection, readingsTopic, receiptsTopic, rejectionsTopic } from '../../protocol/index.js';
import { connackCode, connectDevice, connectsRefused, freshToken, reading, useGatewayWithDevices } from '../gateway/harness.js';

describe('D in uppercase is not the device (SPEC §1, §4)', () => {
  const fx = useGatewayWithDevices(1, { mqttConnectFailuresPerMinute: 0 });

  test('client id and username in uppercase: CONNACK 5 (UNKNOWN_DEVICE), though the token is good', async () => {
    const D = fx.dev.id.toUpperCase();
    const before = await connectsRefused(fx.t.gw, 'UNKNOWN_DEVICE');
    expect(await connackCode(plainMqttUrl(fx.t.gw), D, await freshToken(fx.dev))).toBe(5);
    expect(await connectsRefused(fx.t.gw, 'UNKNOWN_DEVICE')).toBe(before + 1);
  });

  test('uppercase topics: SUBACK 0x80 for the answer topics, TOPIC_MISMATCH (seq null) for a reading', async () => {
    const c = await connectDevice(fx.t.gw, fx.dev);
    try {
      const up = (t: string) => t.replace(fx.dev.id, fx.dev.id.toUpperCase());
      // mqtt.js reports a SUBACK of 0x80 as an error carrying the packet
      const granted = await new Promise<number[] | undefined>((res) =>
        c.client.subscribe([up(receiptsTopic(fx.dev.id)), up(rejectionsTopic(fx.dev.id))], { qos: 1 }, (err) => res((err as { packet?: { granted?: number[] } } | null)?.packet?.granted)),
      );
      expect(granted).toEqual([0x80, 0x80]);
      const closed = new Promise<void>((r) => c.client.once('close', () => r()));
      const rejection = new Promise<Buffer>((r) => c.client.on('message', (topic, p) => topic === rejectionsTopic(fx.dev.id) && r(p)));
      c.client.publish(up(readingsTopic(fx.dev.id)), Buffer.from(await reading(fx.dev, 1)), { qos: 1 });
      const rj = decodeRejection(new Uint8Array(await rejection));
      expect([rj.code, rj.seq]).toEqual(['TOPIC_MISMATCH', null]);
      await closed;
    } finally {
      await c.end();
    }
  });
});

