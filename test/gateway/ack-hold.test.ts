/** AckHold: a reading's PUBACK waits in the connection's buffer for the device's answer, then both leave in one write. */
import { describe, expect, test } from 'vitest';
import { Writable } from 'node:stream';
import { AckHold } from '../../gateway/mqtt/ack-hold.js';

/** A connection that records each write system call as the list of frames it carried. */
function connection() {
  const writes: string[][] = [];
  const conn = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push([chunk.toString()]);
      cb();
    },
    writev(chunks, cb) {
      writes.push(chunks.map((c) => (c.chunk as Buffer).toString()));
      cb();
    },
  });
  return { client: { conn }, writes };
}
const tick = () => new Promise((r) => setImmediate(r));

/** Wait (up to 2 s) until more than `count` writes have reached the socket: the sweep runs on a real timer. */
async function writesBeyond(writes: unknown[], count: number): Promise<void> {
  const deadline = Date.now() + 2000;
  while (writes.length <= count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

describe('acknowledgements held for the answer', () => {
  test('PUBACKs written while held leave with the answer, in one write', async () => {
    let now = 0;
    const acks = new AckHold(100, () => now);
    const { client, writes } = connection();
    acks.hold(client);
    client.conn.write('puback 1');
    now += 10;
    acks.hold(client); // a second reading meanwhile
    client.conn.write('puback 2');
    await tick();
    expect(writes).toEqual([]); // nothing on the wire yet
    acks.release(client); // the answer to reading 1
    client.conn.write('receipt 1');
    await tick();
    expect(writes).toEqual([['puback 1', 'puback 2', 'receipt 1']]);
    acks.close();
  });

  test('a reading answered in the tick it arrived is not held afterwards (no answer waits for the next one)', async () => {
    const acks = new AckHold(100);
    const { client, writes } = connection();
    acks.hold(client);
    acks.release(client); // e.g. rejected at once
    client.conn.write('rejection 1');
    acks.hold(client); // the next reading, same tick: a flush is already due, its PUBACK goes with it
    client.conn.write('puback 1');
    await tick();
    expect(writes).toEqual([['rejection 1', 'puback 1']]);
    client.conn.write('later');
    await tick();
    expect(writes.at(-1)).toEqual(['later']); // not corked any more
    acks.close();
  });

  test('a device that keeps sending is not starved: after holdMs the held frames go, answer or not', async () => {
    let now = 0;
    const acks = new AckHold(100, () => now);
    const { client, writes } = connection();
    for (let i = 1; i <= 5; i++) {
      acks.hold(client);
      client.conn.write(`puback ${i}`);
      now += 30;
    }
    await tick();
    expect(writes).toEqual([['puback 1', 'puback 2', 'puback 3', 'puback 4', 'puback 5']]); // released at 120 ms
    acks.close();
  });

  test('the sweep releases a hold whose answer never comes (a device not subscribed to its answers)', async () => {
    const acks = new AckHold(20);
    const { client, writes } = connection();
    acks.hold(client);
    client.conn.write('puback 1');
    expect(acks.size).toBe(1);
    await writesBeyond(writes, 0);
    expect(writes).toEqual([['puback 1']]);
    expect(acks.size).toBe(0);
    acks.close();
  });

  test('a connection held again after its answer is held afresh and still swept in time, however often', async () => {
    let now = 0;
    const acks = new AckHold(20, () => now);
    const { client, writes } = connection();
    for (let i = 1; i <= 50; i++) {
      acks.hold(client);
      client.conn.write(`puback ${i}`);
      acks.release(client);
      client.conn.write(`receipt ${i}`);
      await tick();
    }
    expect(writes).toHaveLength(50);
    expect(writes[49]).toEqual(['puback 50', 'receipt 50']);
    acks.hold(client); // held again; its answer never comes
    client.conn.write('puback 51');
    expect(acks.size).toBe(1);
    now += 25;
    await writesBeyond(writes, 50);
    expect(writes[50]).toEqual(['puback 51']);
    expect(acks.size).toBe(0);
    acks.close();
  });

  test('holdMs 0 holds nothing', async () => {
    const acks = new AckHold(0);
    const { client, writes } = connection();
    acks.hold(client);
    client.conn.write('puback 1');
    await tick();
    expect(writes).toEqual([['puback 1']]);
    acks.close();
  });
});
