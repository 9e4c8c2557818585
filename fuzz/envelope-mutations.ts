/**
 * Mutations of one VALID signed reading envelope (COSE_Sign1, RFC 9052 §4.2), as fast-check arbitraries shared by
 * the test suite and `npm run fuzz`:
 * - byte level: bit flips, byte overwrites, truncation, extension (past the size limit too), insertion, deletion,
 *   duplicated slices;
 * - structure level, on the envelope's tree (outer array, protected header, unprotected header, claims, body):
 *   type confusion, same-type value swaps, duplicate map keys, added / removed / reordered entries, indefinite
 *   lengths, heads wider than needed, length heads claiming huge or wrong sizes, deep nesting, foreign tags,
 *   unwrapped or extra-wrapped byte strings;
 * - structure mutations again, RE-SIGNED with the device key, so a schema gap cannot hide behind BAD_SIGNATURE.
 *   Only edits that make the claims or headers invalid whatever the signature are re-signed (see RESIGNABLE);
 * - well-formed CBOR garbage and random bytes.
 * A mutant is expected to be rejected with a code unless its bytes equal the original (the caller checks that).
 */
import fc from 'fast-check';
import { decode } from '../protocol/cbor.js';
import { sigStructure } from '../protocol/cose-sign1.js';
import { assemble, classOf, cloneAst, concat, nodesOf, styledString, toAst, type Ast, type HeadStyle } from './cbor-ast.js';
import { anyCbor, INTERESTING_TAGS, lyingLength, valueNotOf, valueOfClass, type ValueClass } from './cbor-values.js';

export interface Mutant {
  /** Mutation family, for the per-kind counts. */
  kind: string;
  bytes: Uint8Array;
  /** Carries a valid signature over its (mutated) protected header and payload. */
  resigned: boolean;
}

export interface EnvelopeFuzzOptions {
  /** The device's signing function (synchronous: Ed25519 through @noble/curves). Without it nothing is re-signed. */
  sign?: (toBeSigned: Uint8Array) => Uint8Array;
  /** The reading size limit: some extensions go past it (TOO_LARGE). */
  maxBytes: number;
  /** Never produce more than this many bytes (an MQTT frame cap closes the connection instead of answering). */
  ceiling?: number;
}

interface Root {
  item: Ast;
}

/** The envelope as a tree: #6.18([bstr .cbor protected, unprotected, bstr .cbor payload, signature]). */
export function envelopeTree(bytes: Uint8Array): Root {
  const v = decode(bytes, 'envelope') as { tag: number; value: unknown[] };
  const [prot, unprot, payload, sig] = v.value as [Uint8Array, Map<unknown, unknown>, Uint8Array, Uint8Array];
  const items: Ast[] = [{ t: 'wrap', item: toAst(decode(prot)) }, toAst(unprot), { t: 'wrap', item: toAst(decode(payload)) }, toAst(sig)];
  return { item: { t: 'tag', tag: v.tag, item: { t: 'array', items } } };
}

type Edit =
  | { op: 'confuse'; at: number; value: { cls: ValueClass; ast: Ast } }
  | { op: 'swap-same'; at: number; value: Ast }
  | { op: 'head'; at: number; style: HeadStyle }
  | { op: 'dup-key'; at: number; from: number; to: number; value: Ast | null }
  | { op: 'add-entry'; at: number; key: Ast; value: Ast }
  | { op: 'remove-entry'; at: number; index: number }
  | { op: 'reorder'; at: number; i: number; j: number }
  | { op: 'nest'; at: number; kind: 'array' | 'map' | 'tag' | 'indefinite'; depth: number }
  | { op: 'wrap-tag'; at: number; tag: number }
  | { op: 'retag'; at: number; tag: number }
  | { op: 'unwrap'; at: number }
  | { op: 'wrap-bstr'; at: number };

/** Edits that leave claims or headers invalid whatever the signature (new types, malformed encodings, wrong shape). */
const RESIGNABLE = new Set<Edit['op']>(['confuse', 'head', 'dup-key', 'add-entry', 'remove-entry', 'reorder', 'nest', 'wrap-tag', 'retag', 'unwrap']);

function nested(kind: 'array' | 'map' | 'tag' | 'indefinite', depth: number): Ast {
  let a: Ast = { t: 'leaf', v: 0 };
  for (let i = 0; i < depth; i++) {
    if (kind === 'array') a = { t: 'array', items: [a] };
    else if (kind === 'indefinite') a = { t: 'array', items: [a], head: { kind: 'indefinite' } };
    else if (kind === 'map') a = { t: 'map', entries: [[{ t: 'leaf', v: 0 }, a]] }; // key 0: in none of our maps
    else a = { t: 'tag', tag: 100, item: a };
  }
  return a;
}

/** A head style that is never the shortest definite encoding of `length`. */
function headStyle(length: number): fc.Arbitrary<HeadStyle> {
  const shortest = length < 24 ? 0 : length < 0x100 ? 1 : length < 0x10000 ? 2 : 4;
  const wider = ([1, 2, 4, 8] as const).filter((w) => w > shortest);
  return fc.oneof(
    fc.constantFrom(...wider).map((width): HeadStyle => ({ kind: 'width', width })),
    fc.constant<HeadStyle>({ kind: 'indefinite' }),
    lyingLength(length).map((l): HeadStyle => ({ kind: 'claim', length: l })),
  );
}

function lengthOf(a: Ast): number | undefined {
  if (a.t === 'array') return a.items.length;
  if (a.t === 'map') return a.entries.length;
  if (a.t === 'wrap') return assemble(a.item).length;
  if (a.t === 'leaf' && (a.v instanceof Uint8Array || typeof a.v === 'string')) return a.v instanceof Uint8Array ? a.v.length : new TextEncoder().encode(a.v).length;
  return undefined;
}

function applyEdit(root: Root, e: Edit): void {
  const ref = nodesOf(root)[e.at]!;
  const n = ref.node;
  switch (e.op) {
    case 'confuse':
      return ref.replace(e.value.ast);
    case 'swap-same':
      return ref.replace(e.value);
    case 'head':
      if (n.t === 'array' || n.t === 'map' || n.t === 'wrap') n.head = e.style;
      else if (n.t === 'leaf') {
        const isBytes = n.v instanceof Uint8Array;
        const content = isBytes ? (n.v as Uint8Array) : new TextEncoder().encode(String(n.v));
        ref.replace({ t: 'raw', bytes: styledString(isBytes ? 2 : 3, content, e.style), cls: isBytes ? 'bytes' : 'string' });
      }
      return;
    case 'dup-key': {
      if (n.t !== 'map' || n.entries.length === 0) return;
      const [k, v] = n.entries[e.from % n.entries.length]!;
      n.entries.splice(e.to % (n.entries.length + 1), 0, [cloneAst(k), e.value ?? cloneAst(v)]);
      return;
    }
    case 'add-entry':
      if (n.t === 'map') n.entries.splice(0, 0, [e.key, e.value]);
      return;
    case 'remove-entry':
      if (n.t === 'map' && n.entries.length > 0) n.entries.splice(e.index % n.entries.length, 1);
      return;
    case 'reorder': {
      const list: unknown[] | null = n.t === 'map' ? n.entries : n.t === 'array' ? n.items : null;
      if (!list || list.length < 2) return;
      const i = e.i % list.length;
      const j = (i + 1 + (e.j % (list.length - 1))) % list.length; // never i
      const x = list[i];
      list[i] = list[j];
      list[j] = x;
      return;
    }
    case 'nest':
      return ref.replace(nested(e.kind, e.depth));
    case 'wrap-tag':
      return ref.replace({ t: 'tag', tag: e.tag, item: n });
    case 'retag':
      if (n.t === 'tag') n.tag = e.tag;
      return;
    case 'unwrap':
      if (n.t === 'wrap') ref.replace(n.item);
      return;
    case 'wrap-bstr':
      return ref.replace({ t: 'wrap', item: n });
  }
}

/** New signature over the (mutated) protected header and payload, where the envelope still has that shape. */
function resign(root: Root, sign: (m: Uint8Array) => Uint8Array): boolean {
  const outer = root.item.t === 'tag' ? root.item.item : null;
  if (!outer || outer.t !== 'array' || outer.items.length !== 4) return false;
  const [p, , payload, sig] = outer.items as [Ast, Ast, Ast, Ast];
  if (p.t !== 'wrap' || payload.t !== 'wrap' || sig.t !== 'leaf' || !(sig.v instanceof Uint8Array)) return false;
  outer.items[3] = { t: 'leaf', v: sign(sigStructure(assemble(p.item), new Uint8Array(0), assemble(payload.item))) };
  return true;
}

function editArbitrary(tree: Root, forResign: boolean): fc.Arbitrary<Edit> {
  const refs = nodesOf(tree);
  // Re-signing overwrites the signature: editing it (or anything under it) would be undone.
  const sigPath = '/[3]';
  const usable = refs.map((r, i) => ({ r, i })).filter(({ r }) => !forResign || !r.path.startsWith(sigPath));
  const at = (pred: (a: Ast) => boolean) => usable.filter(({ r }) => pred(r.node)).map(({ i }) => i);
  const any = at(() => true);
  const maps = at((a) => a.t === 'map' && a.entries.length > 0);
  const reorderable = at((a) => (a.t === 'map' && a.entries.length > 1) || (!forResign && a.t === 'array' && a.items.length > 1));
  const headable = at((a) => lengthOf(a) !== undefined);
  const tags = at((a) => a.t === 'tag');
  const wraps = at((a) => a.t === 'wrap');
  const pick = (xs: number[]) => fc.constantFrom(...xs);
  const arbs: fc.Arbitrary<Edit>[] = [];
  /** Each edit needs nodes of some shape; a tree without any (a bundle has no tags) skips it. */
  const when = (xs: number[], make: (nodes: fc.Arbitrary<number>) => fc.Arbitrary<Edit>) => {
    if (xs.length > 0) arbs.push(make(pick(xs)));
  };
  const tagNumber = fc.oneof(fc.constantFrom(...INTERESTING_TAGS), fc.nat());
  when(any, (n) => n.chain((i) => valueNotOf(classOf(refs[i]!.node)).map((value): Edit => ({ op: 'confuse', at: i, value }))));
  when(headable, (n) => n.chain((i) => headStyle(lengthOf(refs[i]!.node)!).map((style): Edit => ({ op: 'head', at: i, style }))));
  when(maps, (n) => fc.record({ at: n, from: fc.nat(), to: fc.nat(), value: fc.option(anyCbor, { nil: null }) }).map((r): Edit => ({ op: 'dup-key', ...r })));
  when(maps, (n) => fc.record({ at: n, key: fc.oneof(valueOfClass.int, valueOfClass.string, valueOfClass.bytes, valueOfClass.float), value: anyCbor }).map((r): Edit => ({ op: 'add-entry', ...r })));
  when(maps, (n) => fc.record({ at: n, index: fc.nat() }).map((r): Edit => ({ op: 'remove-entry', ...r })));
  when(reorderable, (n) => fc.record({ at: n, i: fc.nat(), j: fc.nat() }).map((r): Edit => ({ op: 'reorder', ...r })));
  when(any, (n) =>
    fc.record({ at: n, kind: fc.constantFrom('array' as const, 'map' as const, 'tag' as const, 'indefinite' as const), depth: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 600 })) }).map((r): Edit => ({ op: 'nest', ...r })),
  );
  when(any, (n) => fc.record({ at: n, tag: tagNumber }).map((r): Edit => ({ op: 'wrap-tag', ...r })));
  when(tags, (n) => fc.record({ at: n, tag: tagNumber.filter((t) => t !== 18) }).map((r): Edit => ({ op: 'retag', ...r })));
  when(wraps, (n) => n.map((i): Edit => ({ op: 'unwrap', at: i })));
  if (!forResign) {
    when(any, (n) => n.chain((i) => valueOfClass[classOf(refs[i]!.node) as ValueClass]?.map((value): Edit => ({ op: 'swap-same', at: i, value })) ?? fc.constant<Edit>({ op: 'wrap-bstr', at: i })));
    when(any, (n) => n.map((i): Edit => ({ op: 'wrap-bstr', at: i })));
  }
  return fc.oneof(...arbs).filter((e) => !forResign || RESIGNABLE.has(e.op));
}

/** Byte-level damage to any byte string. */
export function byteMutation(bytes: Uint8Array, opts: { maxBytes: number; ceiling: number }): fc.Arbitrary<{ kind: string; bytes: Uint8Array }> {
  const len = bytes.length;
  const pos = fc.nat(Math.max(0, len - 1));
  const interesting = fc.constantFrom(0x00, 0xff, 0x1f, 0x3f, 0x5f, 0x7f, 0x9f, 0xbf, 0xdf, 0xf7, 0xf9, 0xfb, 0x1b, 0x5b, 0x9b, 0xbb, 0xd2, 0x1c, 0x80, 0xa0, 0x40, 0x60);
  const cap = (b: Uint8Array) => (b.length > opts.ceiling ? b.subarray(0, opts.ceiling) : b);
  return fc.oneof(
    fc.array(fc.nat(len * 8 - 1), { minLength: 1, maxLength: 8 }).map((bits) => {
      const b = bytes.slice();
      for (const bit of bits) b[bit >> 3]! ^= 1 << (bit & 7);
      return { kind: 'bit-flip', bytes: b };
    }),
    fc.array(fc.tuple(pos, fc.oneof(interesting, fc.integer({ min: 0, max: 255 }))), { minLength: 1, maxLength: 4 }).map((sets) => {
      const b = bytes.slice();
      for (const [p, v] of sets) b[p] = v;
      return { kind: 'byte-set', bytes: b };
    }),
    fc.nat(Math.max(0, len - 1)).map((n) => ({ kind: 'truncate', bytes: bytes.slice(0, n) })),
    fc
      .oneof(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.constantFrom(Uint8Array.of(0x00), Uint8Array.of(0xff), Uint8Array.of(0xf7), Uint8Array.of(0xa0), bytes),
        fc.integer({ min: opts.maxBytes - len + 1, max: opts.maxBytes - len + 2048 }).map((n) => new Uint8Array(Math.max(1, n))),
      )
      .map((tail) => ({ kind: 'extend', bytes: cap(concat([bytes, tail])) })),
    fc.tuple(pos, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([p, ins]) => ({ kind: 'insert', bytes: cap(concat([bytes.subarray(0, p), ins, bytes.subarray(p)])) })),
    fc.tuple(pos, fc.integer({ min: 1, max: 16 })).map(([p, n]) => ({ kind: 'delete', bytes: concat([bytes.subarray(0, p), bytes.subarray(p + n)]) })),
    fc.tuple(pos, pos, pos).map(([a, b, p]) => {
      const [s, e] = a <= b ? [a, b + 1] : [b, a + 1];
      return { kind: 'duplicate', bytes: cap(concat([bytes.subarray(0, p), bytes.subarray(s, e), bytes.subarray(p)])) };
    }),
  );
}

/** Every kind of mutant of `valid`, weighted towards the envelope-aware ones. */
export function envelopeMutant(valid: Uint8Array, opts: EnvelopeFuzzOptions): fc.Arbitrary<Mutant> {
  return mutantOf(envelopeTree(valid), valid, opts);
}

/** The same mutations on any CBOR item (a proof bundle, a block header); nothing is re-signed. */
export function cborMutant(valid: Uint8Array, opts: Omit<EnvelopeFuzzOptions, 'sign'>): fc.Arbitrary<Mutant> {
  return mutantOf({ item: toAst(decode(valid)) }, valid, opts);
}

function mutantOf(tree: Root, valid: Uint8Array, opts: EnvelopeFuzzOptions): fc.Arbitrary<Mutant> {
  const ceiling = opts.ceiling ?? opts.maxBytes * 4;
  const cap = (b: Uint8Array) => (b.length > ceiling ? b.subarray(0, ceiling) : b);
  const structural = (forResign: boolean) =>
    editArbitrary(tree, forResign).map((e): Mutant => {
      const t: Root = { item: cloneAst(tree.item) };
      applyEdit(t, e);
      const resigned = forResign && opts.sign !== undefined && resign(t, opts.sign);
      return { kind: `${e.op}${resigned ? '+signed' : ''}`, bytes: cap(assemble(t.item)), resigned };
    });
  const bytesOnly = byteMutation(valid, { maxBytes: opts.maxBytes, ceiling }).map((m): Mutant => ({ ...m, resigned: false }));
  const arbs: fc.WeightedArbitrary<Mutant>[] = [
    { weight: 35, arbitrary: bytesOnly },
    { weight: 25, arbitrary: structural(false) },
    { weight: 10, arbitrary: structural(false).chain((m) => byteMutation(m.bytes.length > 0 ? m.bytes : valid, { maxBytes: opts.maxBytes, ceiling }).map((b): Mutant => ({ kind: `${m.kind}+${b.kind}`, bytes: b.bytes, resigned: false }))) },
    { weight: 4, arbitrary: anyCbor.map((a): Mutant => ({ kind: 'cbor-garbage', bytes: cap(assemble(a)), resigned: false })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((b): Mutant => ({ kind: 'random-bytes', bytes: b, resigned: false })) },
  ];
  if (opts.sign) arbs.push({ weight: 25, arbitrary: structural(true) });
  return fc.oneof(...arbs);
}

/** The family of a mutant kind ('confuse+signed+bit-flip' -> 'confuse'), for compact reports. */
export const familyOf = (kind: string): string => kind.split('+')[0]!;
