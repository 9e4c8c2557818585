/**
 * What one idle device connection costs the gateway's process, plain TCP against TLS, accepted the way
 * gateway/mqtt/listeners.ts accepts them (a net.Server, each socket wrapped in a server-side TLSSocket): the server
 * here holds the connections, a child process opens them (so its memory is not counted), and the difference in the
 * server's V8 heap (after full collections) and RSS is divided by their number. MQTT is not spoken: this is the
 * transport's share only (aedes' own per-client state comes on top, for both).
 *
 *   node --expose-gc dist/bench/connection-memory.js [--connections N]
 */
import { createServer, connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { fixtureTls } from './e2e.js';
import { tlsServerOptions } from '../gateway/mqtt/tls-material.js';

const tls = fixtureTls();

async function openConnections(port: number, useTls: boolean, n: number): Promise<Socket[]> {
  const ca = readFileSync(tls.caFile);
  const sockets: Socket[] = [];
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const s: Socket = useTls ? tlsConnect({ port, host: '127.0.0.1', ca, servername: 'localhost' }, resolve) : netConnect(port, '127.0.0.1', resolve);
      s.once('error', reject);
      sockets.push(s);
    });
  for (let i = 0; i < n; i += 100) await Promise.all(Array.from({ length: Math.min(100, n - i) }, one));
  return sockets;
}

async function measure(useTls: boolean, n: number): Promise<{ heapBytes: number; rssBytes: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  const secureContext = createSecureContext(tlsServerOptions({ cert: readFileSync(tls.certFile, 'utf8'), key: readFileSync(tls.keyFile, 'utf8') }));
  const held: unknown[] = [];
  const server = createServer({ noDelay: true }, (socket) => {
    const conn = useTls ? new TLSSocket(socket, { isServer: true, secureContext }) : socket;
    conn.on('error', () => undefined);
    conn.on('data', () => undefined);
    held.push(conn);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  gc();
  const before = process.memoryUsage();
  const child = fork(fileURLToPath(import.meta.url), ['--client', String((server.address() as AddressInfo).port), useTls ? 'tls' : 'plain', String(n)]);
  await new Promise((resolve) => child.once('message', resolve));
  while (held.length < n) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500)); // handshakes settle
  gc();
  gc();
  const after = process.memoryUsage();
  child.kill();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  for (const c of held) (c as Socket).destroy();
  return { heapBytes: (after.heapUsed - before.heapUsed) / n, rssBytes: (after.rss - before.rss) / n };
}

const argv = process.argv;
if (argv[2] === '--client') {
  await openConnections(Number(argv[3]), argv[4] === 'tls', Number(argv[5]));
  process.send!('connected');
  setInterval(() => undefined, 60_000);
} else if (import.meta.url === `file://${argv[1]}`) {
  const i = argv.indexOf('--connections');
  const n = i > 0 ? Number(argv[i + 1]) : 2000;
  for (const useTls of [false, true]) {
    const m = await measure(useTls, n);
    console.log(`${useTls ? 'TLS  ' : 'plain'} ${n} connections: ${(m.heapBytes / 1024).toFixed(1)} kB of V8 heap and ${(m.rssBytes / 1024).toFixed(1)} kB of RSS each`);
  }
  process.exit(0);
}
