/**
 * Hostile MQTT connects for the flood tests: mqtt.js clients with bad credentials, and raw sockets that send junk,
 * half a CONNECT, or nothing at all. Each attempt settles to what the broker did with it; never hangs past `deadlineMs`.
 */
import { connect as tcpConnect } from 'node:net';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';

/** `connack:N` (refused with MQTT 3.1.1 return code N), `closed` (dropped without one), `connected`, or `open`. */
export type AttemptOutcome = `connack:${number}` | 'closed' | 'connected' | 'open';

export type BadConnect =
  | { kind: 'credentials'; clientId: string; username: string; password?: Uint8Array }
  | { kind: 'garbage'; bytes: Uint8Array }
  | { kind: 'half-connect' }
  | { kind: 'silent' };

/** An mqtt.js client with the given (bad) credentials. */
function credentials(url: string, a: Extract<BadConnect, { kind: 'credentials' }>, deadlineMs: number): Promise<AttemptOutcome> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, {
      clientId: a.clientId, username: a.username, ...(a.password ? { password: Buffer.from(a.password) } : {}),
      reconnectPeriod: 0, connectTimeout: deadlineMs, protocolVersion: 4,
    });
    let settled = false;
    const settle = (o: AttemptOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end(true);
      resolve(o);
    };
    const timer = setTimeout(() => settle('open'), deadlineMs);
    client.on('connect', () => settle('connected'));
    client.on('error', (err) => {
      const code = (err as { code?: unknown }).code;
      settle(typeof code === 'number' ? `connack:${code}` : 'closed');
    });
    client.on('close', () => settle('closed'));
  });
}

/** A CONNECT as mqtt.js would send it, cut in half: the broker waits for the rest that never comes. */
const halfConnect = (() => {
  const full = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'half', clean: true, keepalive: 60 } as mqttPacket.IConnectPacket);
  return full.subarray(0, Math.ceil(full.length / 2));
})();

/** A raw socket that sends `bytes` (maybe none) and waits for the broker to answer or hang up. */
function raw(host: string, port: number, bytes: Uint8Array, deadlineMs: number, localAddress?: string): Promise<AttemptOutcome> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port, ...(localAddress ? { localAddress } : {}) });
    let got = Buffer.alloc(0);
    let settled = false;
    const settle = (o: AttemptOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => settle('open'), deadlineMs);
    socket.on('connect', () => {
      if (bytes.length > 0) socket.write(bytes);
    });
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      // CONNACK (0x20, length 2, flags, return code): 0 would mean the junk was let in.
      if (got.length >= 4 && got[0] === 0x20) settle(got[3] === 0 ? 'connected' : `connack:${got[3]!}`);
    });
    socket.on('error', () => settle('closed'));
    socket.on('close', () => settle('closed'));
  });
}

/** The CONNECT mqtt.js sends for these credentials (MQTT 3.1.1, clean session). */
function connectPacket(a: Extract<BadConnect, { kind: 'credentials' }>): Uint8Array {
  const password = a.password ? { password: Buffer.from(a.password) } : {};
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: a.clientId, username: a.username, ...password, clean: true, keepalive: 60 } as mqttPacket.IConnectPacket);
}

/**
 * One bad connect; settles to what the broker did with it. `localAddress`: connect from this address (another
 * loopback address, 127.0.0.2, stands for another client); credentials then go as a raw CONNECT.
 */
export function attempt(url: string, a: BadConnect, deadlineMs: number, localAddress?: string): Promise<AttemptOutcome> {
  const { hostname, port } = new URL(url);
  switch (a.kind) {
    case 'credentials':
      return localAddress ? raw(hostname, Number(port), connectPacket(a), deadlineMs, localAddress) : credentials(url, a, deadlineMs);
    case 'garbage':
      return raw(hostname, Number(port), a.bytes, deadlineMs, localAddress);
    case 'half-connect':
      return raw(hostname, Number(port), halfConnect, deadlineMs, localAddress);
    case 'silent':
      return raw(hostname, Number(port), new Uint8Array(0), deadlineMs, localAddress);
  }
}

/** Run `tasks` with at most `width` in flight. */
export async function pool<T>(tasks: readonly (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]!();
      }
    }),
  );
  return out;
}
