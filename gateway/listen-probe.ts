/**
 * Every configured port bound and let go before the start makes anything: a port in use or needing privileges, or a
 * host that is not this machine's, refuses the start (LISTEN_FAILED, naming the setting) before the data directory,
 * the checkpoint key and an empty log are made. The listeners themselves open only after the store (the broker and
 * the HTTP API need it), so without this a refused first start left a new data directory behind.
 *
 * A probe, not a reservation: another process can still take a port between it and the real listen, which then
 * refuses the start the same way (gateway.ts). Port 0 (an ephemeral port) and null (off) need no probe.
 */
import { createServer } from 'node:net';
import { listenOn } from './mqtt/listeners.js';

export interface ProbedPorts {
  host: string;
  httpPort: number;
  mqttPort: number | null;
  mqttTlsPort: number | null;
  wsPort: number | null;
}

export async function probeListeners(config: ProbedPorts): Promise<void> {
  // In the order the start listens, so that the first failure is the one the listen would have reported.
  for (const setting of ['mqttPort', 'mqttTlsPort', 'wsPort', 'httpPort'] as const) {
    const port = config[setting];
    if (port === null || port === 0) continue;
    const server = createServer();
    await listenOn(server, config.host, port, setting);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
