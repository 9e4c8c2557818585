/**
 * A CBOR item as a tree the fuzzers can edit and write back out, including encodings no conforming encoder
 * produces: indefinite lengths (RFC 8949 §3.2), heads wider than needed (§4.2.1 forbids them in deterministic
 * CBOR), length heads that claim more (or fewer) bytes than follow, duplicate map keys (§5.6). Leaves are encoded
 * by cbor-x (not the deterministic encoder: floats and odd values must get through); only the heads are written
 * here, because no library writes malformed heads on purpose.
 */
import { Encoder } from 'cbor-x';

export const MAJOR = { UINT: 0, NINT: 1, BSTR: 2, TSTR: 3, ARRAY: 4, MAP: 5, TAG: 6, SIMPLE: 7 } as const;
export const BREAK = 0xff;

/** How a container or string head is written: shortest (default), wider than needed, indefinite, or lying. */
export type HeadStyle = { kind: 'width'; width: 1 | 2 | 4 | 8 } | { kind: 'indefinite' } | { kind: 'claim'; length: bigint };

export type Ast =
  | { t: 'leaf'; v: unknown }
  | { t: 'raw'; bytes: Uint8Array; cls: string }
  | { t: 'array'; items: Ast[]; head?: HeadStyle }
  | { t: 'map'; entries: [Ast, Ast][]; head?: HeadStyle }
  | { t: 'tag'; tag: number; item: Ast }
  /** A byte string holding an encoded item (`bstr .cbor`, as the protected header and the payload of COSE). */
  | { t: 'wrap'; item: Ast; head?: HeadStyle };

const lenient = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false, pack: false, structuredClone: false, variableMapSize: true } as ConstructorParameters<typeof Encoder>[0]);

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An item head (RFC 8949 §3): major type and argument, in the shortest width unless one is given. */
export function head(major: number, arg: number | bigint, width?: 0 | 1 | 2 | 4 | 8): Uint8Array {
  const n = BigInt(arg);
  const w = width ?? (n < 24n ? 0 : n < 0x100n ? 1 : n < 0x10000n ? 2 : n < 0x100000000n ? 4 : 8);
  if (w === 0) return Uint8Array.of((major << 5) | Number(n));
  const out = new Uint8Array(1 + w);
  out[0] = (major << 5) | { 1: 24, 2: 25, 4: 26, 8: 27 }[w];
  let v = n & ((1n << BigInt(8 * w)) - 1n);
  for (let i = w; i >= 1; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

function styledHead(major: number, length: number, style: HeadStyle | undefined): Uint8Array {
  if (!style) return head(major, length);
  if (style.kind === 'width') return head(major, length, style.width);
  if (style.kind === 'indefinite') return Uint8Array.of((major << 5) | 31);
  return head(major, style.length);
}

const closer = (style: HeadStyle | undefined) => (style?.kind === 'indefinite' ? [Uint8Array.of(BREAK)] : []);

/** A byte or text string with a styled head; indefinite ones are cut into definite chunks (§3.2.3). */
export function styledString(major: 2 | 3, content: Uint8Array, style: HeadStyle | undefined): Uint8Array {
  if (style?.kind !== 'indefinite') return concat([styledHead(major, content.length, style), content]);
  const mid = content.length >> 1;
  return concat([Uint8Array.of((major << 5) | 31), head(major, mid), content.subarray(0, mid), head(major, content.length - mid), content.subarray(mid), Uint8Array.of(BREAK)]);
}

export function encodeLeaf(v: unknown): Uint8Array {
  return new Uint8Array(lenient.encode(v));
}

export function assemble(a: Ast): Uint8Array {
  switch (a.t) {
    case 'leaf':
      return encodeLeaf(a.v);
    case 'raw':
      return a.bytes;
    case 'array':
      return concat([styledHead(MAJOR.ARRAY, a.items.length, a.head), ...a.items.map(assemble), ...closer(a.head)]);
    case 'map':
      return concat([styledHead(MAJOR.MAP, a.entries.length, a.head), ...a.entries.flatMap(([k, v]) => [assemble(k), assemble(v)]), ...closer(a.head)]);
    case 'tag':
      return concat([head(MAJOR.TAG, a.tag), assemble(a.item)]);
    case 'wrap':
      return styledString(MAJOR.BSTR, assemble(a.item), a.head);
  }
}

/** The tree of a decoded value (Maps, arrays, cbor-x Tags; everything else a leaf). */
export function toAst(v: unknown): Ast {
  if (v instanceof Map) return { t: 'map', entries: [...v.entries()].map(([k, x]) => [toAst(k), toAst(x)]) };
  if (Array.isArray(v)) return { t: 'array', items: v.map(toAst) };
  if (v !== null && typeof v === 'object' && 'tag' in v && 'value' in v && typeof (v as { tag: unknown }).tag === 'number') {
    return { t: 'tag', tag: (v as { tag: number }).tag, item: toAst((v as { value: unknown }).value) };
  }
  if (ArrayBuffer.isView(v)) return { t: 'leaf', v: ownCopy(v) };
  return { t: 'leaf', v };
}

/** The kind of value a node decodes to, coarsely: replacing a node by one of another class changes its type. */
export function classOf(a: Ast): string {
  switch (a.t) {
    case 'raw':
      return a.cls;
    case 'wrap':
      return 'bytes';
    case 'array':
    case 'map':
    case 'tag':
      return a.t;
    case 'leaf': {
      const v = a.v;
      if (v instanceof Uint8Array) return 'bytes';
      if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
      if (v === null) return 'null';
      return typeof v; // string, boolean, bigint, undefined
    }
  }
}

/** Every node with the path to it; `container.key` says where it sits (for edits). */
export interface NodeRef {
  node: Ast;
  path: string;
  replace(next: Ast): void;
}

export function nodesOf(root: { item: Ast }): NodeRef[] {
  const out: NodeRef[] = [];
  const walk = (node: Ast, path: string, replace: (n: Ast) => void) => {
    out.push({ node, path, replace });
    if (node.t === 'array') node.items.forEach((it, i) => walk(it, `${path}[${i}]`, (n) => (node.items[i] = n)));
    else if (node.t === 'map') {
      node.entries.forEach((e, i) => {
        walk(e[0], `${path}.<key ${i}>`, (n) => (e[0] = n));
        walk(e[1], `${path}.${i}`, (n) => (e[1] = n));
      });
    } else if (node.t === 'tag' || node.t === 'wrap') walk(node.item, `${path}/`, (n) => (node.item = n));
  };
  walk(root.item, '', (n) => (root.item = n));
  return out;
}

/**
 * A byte string (or other typed array) in a buffer of its own. A decoded one is a view into the bytes decoded, which
 * may themselves be a view into a large buffer (cbor-x writes into its encoder's shared one, which grows to the
 * largest item it ever wrote), and structuredClone (cloneAst) copies a view's whole buffer: after another test file
 * in the same worker had the encoder write tens of MB, every clone copied them, and the envelope fuzz suites took
 * 150-220 s instead of 4 (found in the suite, where files share a worker: vitest.config.ts isolate false).
 */
function ownCopy(v: ArrayBufferView): ArrayBufferView {
  const bytes = new Uint8Array(v.byteLength);
  bytes.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  if (Buffer.isBuffer(v)) return Buffer.from(bytes.buffer);
  const Typed = v.constructor as new (b: ArrayBuffer) => ArrayBufferView;
  return v instanceof DataView ? new DataView(bytes.buffer) : new Typed(bytes.buffer);
}

/** A deep copy (toAst gave every byte string a buffer of its own, so this copies no more than the tree holds). */
export const cloneAst = (a: Ast): Ast => structuredClone(a);
