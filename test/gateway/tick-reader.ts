/**
 * A device connection (the gateway's side of it) whose device reads its socket, but never within the tick the
 * gateway writes in: what is written is taken at the next turn of the event loop (setImmediate), as when the kernel's
 * socket buffer takes nothing more in that tick and the device reads it out before the next. It goes through the
 * listener's accept path (pending cap, read gate, aedes), publishes signed readings at QoS 1, and counts its answers.
 */
import { Duplex } from 'node:stream';
import type { Server } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { decodeReceipt, readingsTopic, receiptsTopic, rejectionsTopic } from '../../protocol/index.js';
import { freshToken, type Device, type TestGateway } from './harness.js';

export class TickReader extends Duplex {
  /** Seqs of the receipts read. */
  readonly receipts = new Set<number>();
  rejections = 0;
  subscribed = false;
  private readonly parser = mqttPacket.parser({ protocolVersion: 4 });
  private messageId = 0;

  constructor(private readonly dev: Device) {
    super();
    this.parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd === 'suback') this.subscribed = true;
      if (p.cmd !== 'publish') return;
      if (p.topic === receiptsTopic(dev.id)) this.receipts.add(decodeReceipt(new Uint8Array(p.payload as Buffer)).seq);
      else this.rejections++;
    });
  }

  override _read(): void {}

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    setImmediate(() => {
      for (const { chunk } of chunks) this.parser.parse(chunk);
      cb();
    });
  }

  /** Readings published at QoS 1, all in one chunk the gateway reads at once. */
  publish(readings: Uint8Array[]): void {
    const frames = readings.map((r) => {
      this.messageId = (this.messageId % 65535) + 1;
      return mqttPacket.generate({ cmd: 'publish', topic: readingsTopic(this.dev.id), payload: Buffer.from(r), qos: 1, messageId: this.messageId, retain: false, dup: false });
    });
    this.push(Buffer.concat(frames));
  }

  static async connect(t: TestGateway, dev: Device): Promise<TickReader> {
    const conn = new TickReader(dev);
    (t.gw.broker.tcp as Server).emit('connection', conn);
    const token = await freshToken(dev);
    conn.push(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: dev.id, username: dev.id, password: Buffer.from(token), keepalive: 0 }));
    conn.push(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: receiptsTopic(dev.id), qos: 1 }, { topic: rejectionsTopic(dev.id), qos: 1 }] }));
    const deadline = Date.now() + 5000;
    while (!conn.subscribed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (!conn.subscribed) throw new Error('no SUBACK within 5 s');
    return conn;
  }
}
