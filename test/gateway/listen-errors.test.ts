/**
 * A listener that cannot be opened stops the start with a ConfigError naming its setting (the CLI: that message,
 * exit 2), and the start leaves nothing open behind it: the same data directory can be started at once.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ConfigError, loadConfig } from '../../gateway/config.js';
import { Pki, startTestGateway } from './harness.js';

const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', 'tls', name);

function holdPort(): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

describe('listeners that cannot be opened', () => {
  // Found by review: ORIGINPROOF_HTTP_PORT=1883 (the default MQTT port) stopped the start with "listen EADDRINUSE:
  // address already in use 0.0.0.0:1883", with nothing else running: the gateway's own broker held it.
  test('two listeners configured on one port are refused by the config, naming both', () => {
    expect(() => loadConfig({ httpPort: 1883 }, {})).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID' }));
    expect(() => loadConfig({ httpPort: 1883 }, {})).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID', message: expect.stringMatching(/httpPort, mqttPort: both on port 1883/) }));
    expect(() => loadConfig({}, { ORIGINPROOF_WS_PORT: '8080' })).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID', message: expect.stringMatching(/httpPort, wsPort: both on port 8080/) }));
    expect(loadConfig({ httpPort: 0, mqttPort: 0, wsPort: 0 }, {})).toMatchObject({ httpPort: 0, mqttPort: 0, wsPort: 0 }); // ephemeral: no clash
  });

  // Found by review: a port in use stopped the start with node's "listen EADDRINUSE: address already in use
  // 127.0.0.1:N", naming no setting, and (in process) left the store locked and the verify workers running.
  // The WebSocket listener over TLS (wss) crashed the process instead: its WebSocketServer re-emitted the error, unhandled.
  const TLS = { tlsCertFile: fixture('gateway.pem'), tlsKeyFile: fixture('gateway.key') };
  for (const [setting, extra] of [['httpPort', {}], ['mqttPort', {}], ['wsPort', {}], ['mqttTlsPort', TLS], ['wsPort', TLS]] as const) {
    test(`${setting}${'tlsCertFile' in extra ? ' (TLS)' : ''} in use by another process: a ConfigError naming it, and nothing left open`, async () => {
      const held = await holdPort();
      const port = (held.address() as AddressInfo).port;
      const pki = await Pki.create();
      const first = await startTestGateway(pki);
      await first.gw.close(); // its data dir kept for the next starts
      try {
        const err = await startTestGateway(pki, { ...extra, [setting]: port }, first.dir).then((t) => t.stop().then(() => null), (e: unknown) => e);
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).code).toBe('LISTEN_FAILED');
        expect((err as Error).message).toMatch(new RegExp(`^${setting} ${port}: 127\\.0\\.0\\.1:${port} is in use`));
        const again = await startTestGateway(pki, {}, first.dir); // the failed start released the store
        await again.stop();
      } finally {
        held.close();
      }
    }, 30_000);
  }

  // Found by review: the listeners open after the store, so a first start refused LISTEN_FAILED had already made the
  // data directory, a checkpoint key and an empty log (listen-probe.ts).
  for (const setting of ['httpPort', 'mqttPort', 'wsPort'] as const) {
    test(`a first start refused for ${setting} in use makes no data directory`, async () => {
      const held = await holdPort();
      const port = (held.address() as AddressInfo).port;
      const dir = await mkdtemp(join(tmpdir(), 'op-listen-probe-'));
      let freed = false;
      try {
        const err = await startTestGateway(await Pki.create(), { [setting]: port }, dir).then((t) => t.stop().then(() => null), (e: unknown) => e);
        expect((err as ConfigError).code).toBe('LISTEN_FAILED');
        expect((err as Error).message).toMatch(new RegExp(`^${setting} ${port}: 127\\.0\\.0\\.1:${port} is in use`));
        expect(existsSync(join(dir, 'data'))).toBe(false);
        held.close();
        freed = true;
        const t = await startTestGateway(await Pki.create(), { [setting]: port }, dir); // the port free: it starts there
        await t.stop();
      } finally {
        if (!freed) held.close();
        await rm(dir, { recursive: true, force: true });
      }
    }, 30_000);
  }
});
