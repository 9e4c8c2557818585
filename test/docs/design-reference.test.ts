/**
 * docs/DESIGN.md is what a contributor joining the team trusts: every file it names exists, every function, class,
 * member or field it names is in the sources (a member in its class's file), every error code it or
 * firmware-specs/SPEC.md names is one of the code's registries, and the figures it states are the code's. SPEC's own
 * examples and figures are checked in test/spec/spec-examples.test.ts; DESIGN's copies of SPEC's layouts are
 * compared with SPEC here.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import {
  CLAIM_PROOF_OF_POSSESSION, CONTENT_TYPES, DEVICE_ID_LENGTH, ENTITY_ID, ENTRY_AGENCY_REGISTRATION, ENTRY_DEVICE_REGISTRATION,
  ENTRY_READING, ENTRY_REVOCATION, ERROR_CODES, NOT_COMPLETE, OriginProofError, TOPIC_QOS, EMPTY_REVOCATIONS, commitRevocations, fromHex,
  revocationsExtension,
} from '../../protocol/index.js';
import { API_ERROR_CODES } from '../../gateway/http/error-registry.js';
import { LEDGER_COMMAND_ERROR_CODES, START_ERROR_CODES } from '../../gateway/config-defaults.js';
import { DEFAULT_CONFIG } from '../../gateway/config.js';
import { CONNACK, connackCodeFor, FIRMWARE_REFUSALS } from '../../gateway/mqtt/connack.js';
import { MAX_TRACKED_ADDRESSES } from '../../gateway/mqtt/connect-failure-limit.js';
import { RECEIPT_QOS } from '../../gateway/mqtt/device-connections.js';
import { REVOCATION_PAGE } from '../../gateway/http/routes/registry.js';
import { registerCommands } from '../../cli/commands/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (f: string) => readFileSync(join(root, f), 'utf8');
const design = read('docs/DESIGN.md');
const spec = read('firmware-specs/SPEC.md');
/** Line breaks (and the indentation after them) as single spaces: sentences wrap anywhere. */
const flat = (text: string) => text.replace(/\n[ \t]*/g, ' ');
const designFlat = flat(design);
const num = (s: string) => Number(s.replace(/,/g, ''));

const SOURCE_DIRS = ['protocol', 'node-fs', 'ledger', 'gateway', 'device-sim', 'cli', 'scripts', 'test/spec'];
const sources = SOURCE_DIRS.flatMap((d) =>
  readdirSync(join(root, d), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => ({ path: join(e.parentPath, e.name), name: e.name, text: readFileSync(join(e.parentPath, e.name), 'utf8') })),
);
const words = new Set(sources.flatMap((s) => s.text.match(/[#A-Za-z_$][\w$]*/g) ?? []));

/** The first match of `re` in DESIGN, flattened (fails when the sentence is gone). */
function stated(re: RegExp): RegExpExecArray {
  const m = re.exec(designFlat);
  expect(m, `DESIGN.md no longer says ${re}`).not.toBeNull();
  return m!;
}

describe('DESIGN names what exists', () => {
  it('every path it names is there', () => {
    const paths = [...designFlat.matchAll(/\b(?:protocol|node-fs|ledger|gateway|device-sim|cli|test|bench|scripts|docs|web|fuzz|firmware-specs)\/[\w./-]*\w/g)].map((m) => m[0]);
    expect(paths.length).toBeGreaterThan(25);
    for (const p of new Set(paths)) expect(existsSync(join(root, p)), `DESIGN.md names ${p}, which is not there`).toBe(true);
  });

  it('every source file it names by its name alone is one of ours', () => {
    const names = [...designFlat.matchAll(/(?<![\w/.-])([a-z][\w-]*\.ts)\b/g)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(3);
    for (const n of new Set(names)) expect(sources.some((s) => s.name === n), `DESIGN.md names ${n}, which no source folder holds`).toBe(true);
  });

  it('every function, class, field or setting it names is in the sources', () => {
    // camelCase and CamelCase words (prose has none but these), with the base64 of the known answer taken out
    const prose = new Set(['CoAP', 'QoS', 'kB']);
    const text = designFlat.replace(/revocations \d+ [A-Za-z0-9+/]+=/g, '');
    const names = [...text.matchAll(/(?<![\w.])#?[a-z]+[A-Z][A-Za-z0-9]*\b|\b[A-Z][a-z]+[A-Z][A-Za-z0-9]*\b/g)].map((m) => m[0]).filter((w) => !prose.has(w));
    expect(names.length).toBeGreaterThan(30);
    for (const n of new Set(names)) expect(words.has(n), `DESIGN.md names ${n}, which no source declares or uses`).toBe(true);
  });

  it('every Class.member it names is a member in the file that declares the class', () => {
    const pairs = [...designFlat.matchAll(/\b([A-Z][a-z][A-Za-z]*)\.(#?[a-z][A-Za-z]+)\b/g)].map((m) => [m[1]!, m[2]!] as const);
    expect(pairs.length).toBeGreaterThan(3);
    for (const [cls, member] of pairs) {
      const home = sources.find((s) => new RegExp(`\\b(class|interface) ${cls}\\b`).test(s.text));
      expect(home, `DESIGN.md names ${cls}, which no source declares`).toBeDefined();
      expect(home!.text, `${cls}.${member}: ${member} is not in ${home!.path}`).toMatch(new RegExp(`(^|\\s)(static |get |async |readonly )*${member.replace('#', '\\#')}\\s*[(:<]`, 'm'));
    }
  });

  it('every command-line flag it names is a flag of an originproof command', () => {
    const program = new Command();
    registerCommands(program);
    const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
    const flags = new Set(all(program).flatMap((c) => c.options.map((o) => o.long)));
    const named = [...designFlat.matchAll(/(?<![\w-])--[a-z][a-z-]*[a-z]/g)].map((m) => m[0]);
    expect(named.length).toBeGreaterThan(5);
    for (const f of new Set(named)) expect(flags, `DESIGN.md names ${f}, which no originproof command takes`).toContain(f);
  });

  it("every file fetch-revocations --out's help names, DESIGN's fetch-revocations sentence names", () => {
    const program = new Command();
    registerCommands(program);
    const out = program.commands.find((c) => c.name() === 'fetch-revocations')!.options.find((o) => o.long === '--out')!;
    const sentence = stated(/`fetch-revocations` saves it as (.*?) \(the layout's version/)[1]!;
    for (const file of ['.rev', '.cert', '.issuer.cert', 'checkpoint', 'format']) {
      expect(out.description, `fetch-revocations --out's help no longer names ${file}`).toContain(file);
      expect(sentence, `DESIGN's fetch-revocations sentence does not name ${file}`).toContain(file);
    }
  });
});

describe('the HTTP routes DESIGN and SPEC name are served', () => {
  const routes = new Set(
    sources.filter((f) => f.path.includes(join('gateway', 'http'))).flatMap((f) => [...f.text.matchAll(/app\.(get|post|put|delete)\(\s*'(\/v1\/[^']*)'/g)].map((m) => `${m[1]!.toUpperCase()} ${m[2]}`)),
  );
  it.each([['docs/DESIGN.md', design], ['firmware-specs/SPEC.md', spec]])('%s', (f, text) => {
    expect(routes.size).toBeGreaterThan(15);
    const named = [...flat(text).matchAll(/\b(GET|POST) (\/v1\/[\w/-]*\w)/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(named.length).toBeGreaterThan(0);
    for (const r of new Set(named)) expect(routes, `${f} names ${r}, which the gateway does not serve`).toContain(r);
  });
});

describe('the error codes DESIGN and SPEC name are the code\'s', () => {
  const known = new Set<string>([
    ...ERROR_CODES, ...API_ERROR_CODES, ...START_ERROR_CODES, ...LEDGER_COMMAND_ERROR_CODES, ...FIRMWARE_REFUSALS,
    'RATE_LIMITED', // the broker's own refusal of a CONNECT (gateway/mqtt/connack.ts ConnectRefusal)
  ]);
  it.each([['docs/DESIGN.md', design], ['firmware-specs/SPEC.md', spec]])('%s', (f, text) => {
    const codes = [...text.matchAll(/\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|`([A-Z]{4,})`/g)].map((m) => m[1] ?? m[0]).filter((c) => c !== 'R_0');
    expect(codes.length).toBeGreaterThan(10);
    for (const c of new Set(codes)) {
      if (c === 'NOT_COMPLETE') expect(NOT_COMPLETE).toContain('not complete'); // verify-bundle.ts's constant, not a code
      else expect(known, `${f} names ${c}, which no registry of codes holds`).toContain(c);
    }
  });
});

describe("DESIGN's figures are the code's", () => {
  it('identifiers: device id length and hex, entity id pattern, proof-of-possession claim', () => {
    const [, bytes, hex] = stated(/first 16 bytes of the device key's thumbprint: (\d+) bytes; written as lowercase hex \((\d+) chars\)/);
    expect.soft(num(bytes!)).toBe(DEVICE_ID_LENGTH);
    expect.soft(num(hex!)).toBe(2 * DEVICE_ID_LENGTH);
    expect.soft(`^${stated(/short text ids, `([^`]+)`/)[1]}$`).toBe(ENTITY_ID.source);
    expect.soft(num(stated(/proof of possession for the issuing agency \(claim (-\d+)/)[1]!)).toBe(CLAIM_PROOF_OF_POSSESSION);
  });

  it('the content types table is CONTENT_TYPES', () => {
    const section = design.slice(design.indexOf('## Content types'), design.indexOf('## MQTT topics'));
    const values = [...section.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    expect(values.sort()).toEqual(Object.values(CONTENT_TYPES).sort());
  });

  it('MQTT: QoS, CONNACK codes, caps and budgets', () => {
    expect.soft(num(stated(/`op\/v1\/d\/D\/readings` device publishes \(QoS (\d)\)/)[1]!)).toBe(TOPIC_QOS);
    expect.soft(num(stated(/`op\/v1\/d\/D\/receipts` gateway publishes receipts \(QoS (\d)/)[1]!)).toBe(RECEIPT_QOS);
    expect.soft(num(stated(/`op\/v1\/d\/D\/rejections` gateway publishes rejections \(QoS (\d)\)/)[1]!)).toBe(RECEIPT_QOS);
    expect.soft(num(stated(/no will message \(CONNACK (\d)\)/)[1]!)).toBe(CONNACK.NOT_AUTHORIZED);
    expect.soft(num(stated(/\(REPLAY otherwise, CONNACK (\d)/)[1]!)).toBe(connackCodeFor(new OriginProofError('REPLAY', 'x')));
    expect.soft(num(stated(/refuses the CONNECT with CONNACK (\d) \(`STORAGE_UNAVAILABLE`\)/)[1]!)).toBe(connackCodeFor(new OriginProofError('STORAGE_UNAVAILABLE', 'x')));
    expect.soft(num(stated(/`mqttMaxConnections` device connections \(default ([\d,]+)/)[1]!)).toBe(DEFAULT_CONFIG.mqttMaxConnections);
    expect.soft(num(stated(/CONNECT beyond it gets CONNACK (\d)/)[1]!)).toBe(CONNACK.SERVER_UNAVAILABLE);
    expect.soft(num(stated(/`mqttConnectFailuresPerMinute` times \((\d+)\)/)[1]!)).toBe(DEFAULT_CONFIG.mqttConnectFailuresPerMinute);
    expect.soft(num(stated(/a token bucket per address, ([\d,]+) addresses at most/)[1]!)).toBe(MAX_TRACKED_ADDRESSES);
    const startScript = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start!;
    const oldSpace = /--max-old-space-size=(\d+)/.exec(startScript)![1]!;
    expect.soft(num(stated(/`npm start`'s (\d+) MB old space/)[1]!)).toBe(num(oldSpace));
  });

  it('log entry types', () => {
    const [, a, b, c, d] = stated(/\| 1 \| type \| uint: (\d) reading, (\d) agency registration, (\d) device registration, (\d) revocation \|/);
    expect([a, b, c, d].map((x) => num(x!))).toEqual([ENTRY_READING, ENTRY_AGENCY_REGISTRATION, ENTRY_DEVICE_REGISTRATION, ENTRY_REVOCATION]);
  });

  it("receipt and rejection layouts are SPEC's (spec-examples.test.ts checks SPEC's against the code)", () => {
    const keys = (layout: string) => layout.replace(/\s+/g, ' ').split(/, (?=\d+:)/).map((e) => /^(\d+): (\w+)/.exec(e)![0]);
    const specFlat = flat(spec);
    const specReceipt = /Receipt \(CBOR map on `op\/v1\/d\/D\/receipts`\): `\{([^}]*)\}`/.exec(specFlat)![1]!;
    const designReceipt = stated(/\{(1: seq, 2: index[^}]*)\}/)[1]!;
    expect(keys(designReceipt)).toEqual(keys(specReceipt));
    const specRejection = /Rejection \(CBOR map on `op\/v1\/d\/D\/rejections`\): `\{([^}]*)\}`/.exec(specFlat)![1]!;
    const designRejection = stated(/Rejection: \{([^}]*)\}/)[1]!;
    expect(keys(designRejection)).toEqual(keys(specRejection));
  });

  it("the revocation commitment's known answer is commitRevocations' over the list DESIGN states", () => {
    const [, listText, line] = stated(/known answer: statements (.*?) give `(revocations \d+ [A-Za-z0-9+/]+=)`/);
    // "01 02 03 at index 4, 04 05 at 9 and 06 at 17"
    const list = [...listText!.matchAll(/((?:[0-9a-f]{2} )+)at (?:index )?(\d+)/g)].map((m) => ({ index: num(m[2]!), statement: fromHex(m[1]!.replace(/ /g, '')) }));
    expect(list).toHaveLength(3);
    expect(revocationsExtension(commitRevocations(list))).toBe(line);
    expect(stated(/none gives `(revocations 0 [A-Z]+\.\.\.[A-Z]+=)`/)[1]).toBe('revocations 0 AAAA...AAA=');
    expect(revocationsExtension(EMPTY_REVOCATIONS)).toBe(`revocations 0 ${'A'.repeat(43)}=`);
  });

  it('GET /v1/revocations pages', () => {
    expect(num(stated(/in pages of at most `limit` \(([\d,]+)\) entries/)[1]!)).toBe(REVOCATION_PAGE);
  });
});
