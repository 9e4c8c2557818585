/**
 * mqtt-packet's parser reads a frame's declared length (up to 268 MB) and then buffers until all of it is there, and
 * aedes buffers a whole packet before any hook sees it. So each connection's parser gets a cap from its first byte
 * (CONNECT included): the step that reads the length is replaced, on that parser, with one that fails once the length
 * exceeds the cap; the parser emits an error and aedes closes the connection before the frame is buffered, whether
 * or not the connection has authenticated. One shared function, one comparison per frame.
 */
import type { Aedes, Client } from 'aedes';
import type { Duplex } from 'node:stream';

interface ParserInternals {
  packet: { length: number };
  _parseLength: (this: ParserInternals) => boolean;
  _emitError: (err: Error) => void;
  /** Set by capFrames: the largest frame this parser takes. */
  _frameCap?: number;
}

let parseLengthOf: ((this: ParserInternals) => boolean) | undefined;

function cappedParseLength(this: ParserInternals): boolean {
  const ok = parseLengthOf!.call(this);
  if (ok && this.packet.length > this._frameCap!) {
    this._emitError(new Error(`MQTT packet of ${this.packet.length} bytes exceeds the ${this._frameCap}-byte limit`));
    return false;
  }
  return ok;
}

function capFrames(parser: ParserInternals | undefined, cap: number): boolean {
  const parseLength = parser ? (Object.getPrototypeOf(parser) as Partial<ParserInternals>)._parseLength : undefined;
  if (!parser || typeof parseLength !== 'function') return false; // not the aedes / mqtt-packet this was written for
  parseLengthOf ??= parseLength;
  parser._frameCap = cap;
  parser._parseLength = cappedParseLength;
  return true;
}

/**
 * Every connection `aedes.handle` takes from now on reads frames of at most `cap` bytes. aedes.handle makes the
 * Client (and its parser) synchronously and reads nothing before the next turn, so patching there, before any byte
 * is parsed, covers every transport and any caller of aedes.handle. Deny by default: a connection whose frames
 * cannot be capped (another aedes or mqtt-packet than this was written for) is not served.
 */
export function capFrameSize(aedes: Aedes, cap: number): void {
  type Handle = (c: Duplex, req?: unknown) => Client;
  const handle = (aedes.handle as unknown as Handle).bind(aedes);
  (aedes as unknown as { handle: Handle }).handle = (conn, req) => {
    const client = handle(conn, req);
    if (!capFrames((client as unknown as { _parser?: ParserInternals })._parser, cap)) conn.destroy();
    return client;
  };
}
