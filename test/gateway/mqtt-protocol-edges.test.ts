/**
 * Broken or hostile MQTT clients, packet by packet (raw sockets, mqtt-packet): what the embedded broker does with
 * packets out of order or without state, and with topics a device may not use. Each is refused by closing the
 * connection or answered without keeping state; nothing is stored, retained or routed.
 */
import { describe, expect, test } from 'vitest';
import { connect as netConnect } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { decodeRejection, readingsTopic, receiptsTopic, rejectionsTopic } from '../../protocol/index.js';
import { freshToken, reading, useGatewayWithDevices, type Device } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('MQTT protocol edges', () => {
  const fx = useGatewayWithDevices(2);

  /** A raw MQTT 3.1.1 connection: what it was sent, and whether the gateway closed it. */
  function raw() {
    const s = netConnect(Number(new URL(fx.t.gw.mqttUrl!).port), '127.0.0.1');
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const c = { packets: [] as Packet[], closed: false, send: (p: object) => s.write(mqttPacket.generate(p as Packet)), write: (b: Buffer) => s.write(b), end: () => s.destroy() };
    parser.on('packet', (p) => c.packets.push(p));
    s.on('data', (d) => parser.parse(d));
    s.on('error', () => undefined);
    s.on('close', () => (c.closed = true));
    return c;
  }
  const connectPacket = async (d: Device, clean = true) => ({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, clientId: d.id, username: d.id, password: Buffer.from(await freshToken(d)), keepalive: 60 });
  const until = async (cond: () => boolean) => {
    const end = Date.now() + 3000;
    while (!cond() && Date.now() < end) await sleep(10);
    return cond();
  };
  const cmds = (c: { packets: Packet[] }) => c.packets.map((p) => p.cmd);

  test('a PUBLISH before CONNECT closes the connection; nothing is answered or stored', async () => {
    const d = fx.devices[0]!;
    const before = fx.t.gw.ledger.size();
    const c = raw();
    c.send({ cmd: 'publish', topic: readingsTopic(d.id), payload: Buffer.from(await reading(d, 1)), qos: 1, messageId: 1 });
    expect(await until(() => c.closed)).toBe(true);
    expect(c.packets).toEqual([]);
    await sleep(200);
    expect(fx.t.gw.ledger.size()).toBe(before);
  });

  test('a second CONNECT on a connection closes it', async () => {
    const c = raw();
    c.send(await connectPacket(fx.devices[0]!));
    await until(() => c.packets.length > 0);
    c.send(await connectPacket(fx.devices[0]!));
    expect(await until(() => c.closed)).toBe(true);
    expect(cmds(c)).toEqual(['connack']);
  });

  test('PUBREL, PUBREC, PUBACK, PUBCOMP for no message: answered without keeping state (clean session), or closed (kept session)', async () => {
    const clean = raw();
    clean.send(await connectPacket(fx.devices[0]!));
    await until(() => clean.packets.length > 0);
    for (const cmd of ['pubrel', 'pubrec', 'puback', 'pubcomp']) clean.send({ cmd, messageId: 7 });
    await until(() => clean.packets.length >= 3);
    await sleep(100);
    expect(cmds(clean)).toEqual(['connack', 'pubcomp', 'pubrel']);
    expect(clean.closed).toBe(false);
    clean.end();

    const kept = raw();
    kept.send(await connectPacket(fx.devices[0]!, false));
    await until(() => kept.packets.length > 0);
    kept.send({ cmd: 'pubrec', messageId: 8 }); // aedes has sent nothing at QoS > 0 on it: no such packet
    expect(await until(() => kept.closed)).toBe(true);
  });

  test('a reading with the retain flag is receipted and not retained; two readings under one packet id are both answered', async () => {
    const d = fx.devices[0]!;
    const c = raw();
    c.send(await connectPacket(d));
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: receiptsTopic(d.id), qos: 1 }] });
    await until(() => cmds(c).includes('suback'));
    c.send({ cmd: 'publish', topic: readingsTopic(d.id), payload: Buffer.from(await reading(d, 10)), qos: 1, messageId: 9, retain: true });
    c.send({ cmd: 'publish', topic: readingsTopic(d.id), payload: Buffer.from(await reading(d, 11)), qos: 1, messageId: 9 });
    expect(await until(() => c.packets.filter((p) => p.cmd === 'publish').length === 2)).toBe(true);
    expect(c.packets.filter((p) => p.cmd === 'puback').map((p) => p.messageId)).toEqual([9, 9]);
    const persistence = (fx.t.gw.broker.aedes as unknown as { persistence: { createRetainedStreamCombi(p: string[]): AsyncIterable<{ topic: string }> } }).persistence;
    const retained: string[] = [];
    for await (const p of persistence.createRetainedStreamCombi(['#'])) retained.push(p.topic);
    expect(retained).toEqual([]);
    c.end();
  });

  test('a kept session (clean session off) queues no answers for a device that went away: they go at QoS 0 or not at all', async () => {
    const d = fx.devices[1]!;
    const before = fx.t.gw.ledger.size();
    const c = raw();
    c.send(await connectPacket(d, false));
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [receiptsTopic(d.id), rejectionsTopic(d.id)].map((topic) => ({ topic, qos: 1 })) });
    await until(() => cmds(c).includes('suback'));
    c.send({ cmd: 'publish', topic: readingsTopic(d.id), payload: Buffer.from(await reading(d, 1)), qos: 1, messageId: 2 });
    c.send({ cmd: 'publish', topic: readingsTopic(d.id), payload: Buffer.from([0xff]), qos: 1, messageId: 3 });
    await until(() => cmds(c).includes('puback'));
    c.end(); // gone before its answers
    expect(await until(() => fx.t.gw.ledger.size() === before + 1)).toBe(true);
    await sleep(200);
    const persistence = (fx.t.gw.broker.aedes as unknown as { persistence: { outgoingStream(c: { id: string }): AsyncIterable<unknown> } }).persistence;
    const queued: unknown[] = [];
    for await (const p of persistence.outgoingStream({ id: d.id })) queued.push(p);
    expect(queued).toEqual([]);
  });

  test('a read holding many PUBLISHes where the device may not is told TOPIC_MISMATCH once, and closed', async () => {
    const d = fx.devices[1]!;
    const topicMismatches = async () =>
      Number(/^originproof_readings_rejected_total\{code="TOPIC_MISMATCH"\} (\d+)/m.exec((await fx.t.gw.app.inject({ method: 'GET', url: '/metrics' })).body)?.[1] ?? 0);
    const before = await topicMismatches();
    const c = raw();
    c.send(await connectPacket(d));
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: rejectionsTopic(d.id), qos: 0 }] });
    await until(() => cmds(c).includes('suback'));
    // 2,000 PUBLISHes in one write (~40 kB): aedes hands them to authorizePublish together
    const flood = mqttPacket.generate({ cmd: 'publish', topic: receiptsTopic(d.id), payload: Buffer.alloc(0), qos: 0, retain: false, dup: false } as Packet);
    c.write(Buffer.concat(Array.from({ length: 2000 }, () => flood)));
    expect(await until(() => c.closed)).toBe(true);
    const answers = c.packets.filter((p) => p.cmd === 'publish') as mqttPacket.IPublishPacket[];
    expect(answers.map((p) => decodeRejection(new Uint8Array(p.payload as Buffer)).code)).toEqual(['TOPIC_MISMATCH']);
    expect((await topicMismatches()) - before).toBe(1);
  });

  test('a PUBLISH on $SYS gets TOPIC_MISMATCH and a disconnect; one on a wildcard topic (not a topic name, MQTT-3.3.2-2) a disconnect', async () => {
    const d = fx.devices[1]!;
    for (const topic of ['$SYS/broker/new/clients', `op/v1/d/+/readings`, '#']) {
      const c = raw();
      c.send(await connectPacket(d));
      c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: rejectionsTopic(d.id), qos: 0 }] });
      await until(() => cmds(c).includes('suback'));
      c.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, messageId: 5 });
      expect(await until(() => c.closed)).toBe(true);
      const answers = c.packets.filter((p) => p.cmd === 'publish') as mqttPacket.IPublishPacket[];
      if (topic.startsWith('$SYS')) expect(answers.map((p) => decodeRejection(new Uint8Array(p.payload as Buffer)).code)).toEqual(['TOPIC_MISMATCH']);
      else expect(answers).toEqual([]);
      expect(cmds(c)).not.toContain('puback');
    }
  });
});
