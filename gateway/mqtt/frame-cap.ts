/**
 * mqtt-packet's parser reads a frame's declared length (up to 268 MB) and then buffers until all of it is there, and
 * aedes buffers a whole packet before any hook sees it. So each connection's parser gets a cap from its first byte
 * (CONNECT included): the step that reads the length is replaced, on that parser, with one that fails once the length
 * exceeds the cap; the parser emits an error and aedes closes the connection before the frame is buffered, whether
 * or not the connection has authenticated. One shared function, one comparison per frame. The first frame over the cap
 * on a connection is reported (`onOverCap`, with its packet type): a PUBLISH over it is a reading refused TOO_LARGE.
 */
import type { Aedes, Client } from 'aedes';
import type { Duplex } from 'node:stream';

interface ParserInternals {
  packet: { length: number; cmd?: string };
  _parseLength: (this: ParserInternals) => boolean;
  _emitError: (err: Error) => void;
  /** Set by capFrames: the largest frame this parser takes. */
  _frameCap?: number;
  /** Set by capFrameSize: told of the first frame over the cap (then cleared: one report per connection). */
  _overCap?: (cmd: string | undefined) => void;
}

let parseLengthOf: ((this: ParserInternals) => boolean) | undefined;

function cappedParseLength(this: ParserInternals): boolean {
  const ok = parseLengthOf!.call(this);
  if (ok && this.packet.length > this._frameCap!) {
    const told = this._overCap;
    this._overCap = undefined;
    told?.(this.packet.cmd);
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
 * The largest MQTT packet (remaining length) a connection may send: four readings at the size limit and 1 KiB for the
 * rest (firmware-specs/SPEC.md §3 states it; a device's CONNECT and SUBSCRIBE are far smaller).
 */
export function mqttFrameCap(maxReadingBytes: number): number {
  return maxReadingBytes * 4 + 1024;
}

/**
 * Every connection `aedes.handle` takes from now on reads frames of at most `cap` bytes. aedes.handle makes the
 * Client (and its parser) synchronously and reads nothing before the next turn, so patching there, before any byte
 * is parsed, covers every transport and any caller of aedes.handle. Deny by default: a connection whose frames
 * cannot be capped (another aedes or mqtt-packet than this was written for) is not served.
 */
export function capFrameSize(aedes: Aedes, cap: number, onOverCap?: (client: Client, cmd: string | undefined) => void): void {
  type Handle = (c: Duplex, req?: unknown) => Client;
  const handle = (aedes.handle as unknown as Handle).bind(aedes);
  (aedes as unknown as { handle: Handle }).handle = (conn, req) => {
    const client = handle(conn, req);
    const parser = (client as unknown as { _parser?: ParserInternals })._parser;
    if (!capFrames(parser, cap)) conn.destroy();
    else if (onOverCap) parser!._overCap = (cmd) => onOverCap(client, cmd);
    return client;
  };
}
