/**
 * HTTP/1.1 pipelining, bounded. node's HTTP server parses every request of a chunk it reads from a connection at once
 * and hands each to the app; their answers wait in memory, in order, until the ones before them have gone out. It
 * stops reading a connection only between chunks, once an answer waits, so one 64 kB read holds ~1,700 requests of
 * ~40 bytes: a client sending `GET /docs/json` 2,000 times in one write and reading nothing held 227 MB of answers in
 * the gateway's heap, for as long as it kept the connection open (found by the resource-exhaustion review; npm
 * start's old space is 256 MB).
 *
 * So, per connection: a request is handled only once the answer before it has gone to the socket (a pipelining
 * client still gets every answer, in order, but at most one answer of a connection waits in the gateway), and more
 * than MAX_PIPELINED_REQUESTS requests waiting for their answers close the connection, unanswered (browsers and the
 * usual HTTP clients do not pipeline at all; undici's default is 1).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Most requests of one connection taken and not answered yet; one more closes the connection. */
export const MAX_PIPELINED_REQUESTS = 16;

interface ConnectionState {
  /** Requests taken on the connection whose answer has not gone to the socket yet (nor been dropped with it). */
  open: number;
  /** Whether a request of the connection is being handled now (its answer not gone yet). */
  busy: boolean;
  /** Requests waiting for the one being handled: each one's go-ahead. */
  waiting: (() => void)[];
}

const states = new WeakMap<Socket, ConnectionState>();

function stateOf(socket: Socket): ConnectionState {
  let s = states.get(socket);
  if (!s) states.set(socket, (s = { open: 0, busy: false, waiting: [] }));
  return s;
}

/**
 * Count each request of `server` until its answer is done (node's 'close' of the response: written to the socket,
 * or dropped with a closed connection), and close a connection with more than `max` of them. Runs before the app's
 * own handler, for every request, those answered by the router alone included.
 */
export function boundPipelining(server: Server, max = MAX_PIPELINED_REQUESTS): void {
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const s = stateOf(socket);
    if (++s.open > max) {
      s.waiting = [];
      socket.destroy();
      return;
    }
    res.once('close', () => {
      s.open--;
    });
  });
}

/**
 * Fastify's onRequest hook: go ahead now when no earlier request of the connection is being handled, else once its
 * answer is done. A connection closed meanwhile lets none of its waiting requests go ahead.
 */
export function oneAtATime(req: IncomingMessage, res: ServerResponse, done: () => void): void {
  const socket = req.socket;
  const s = stateOf(socket);
  const go = () => {
    s.busy = true;
    res.once('close', () => {
      s.busy = false;
      const next = s.waiting.shift();
      if (next && !socket.destroyed) next();
    });
    done();
  };
  if (!s.busy) go();
  else s.waiting.push(go);
}
