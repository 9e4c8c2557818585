/**
 * README is followed literally by operators: every setting, environment variable, metric, CLI command and flag it
 * names must exist, and everything the gateway offers must be named there. Reads README.md and the code's own lists
 * (gateway/config.ts, gateway/metrics.ts, the commander program of cli/).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { DEFAULT_CONFIG, ENV_VARS, type GatewayConfig } from '../../gateway/config.js';
import { FLAGS } from '../../gateway/config-defaults.js';
import { createMetrics, setTlsExpiry, watchNextKeyCoverage } from '../../gateway/metrics.js';
import { registerCommands } from '../../cli/commands/index.js';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const docs = ['README.md', 'docs/DESIGN.md', 'docs/PERFORMANCE.md', 'firmware-specs/SPEC.md'].map((f) => ({ f, text: readFileSync(new URL(f, root), 'utf8') }));

/** Table rows one by one, other text by paragraph: the places a setting and its variable and default sit together. */
function units(text: string): string[] {
  const out: string[] = [];
  for (const para of text.split(/\n\s*\n/)) {
    const lines = para.split('\n');
    if (lines.some((l) => l.startsWith('|'))) out.push(...lines);
    else out.push(para.replace(/\n/g, ' '));
  }
  return out;
}

/** How README writes a default: `1000`, 2,500, off, none. */
function defaultSpellings(key: keyof GatewayConfig): string[] | null {
  const v = DEFAULT_CONFIG[key];
  if (key === 'verifyWorkers') return ['one per core'];
  if (v === null || v === false) return ['off', 'none'];
  if (typeof v === 'number') return [String(v), v.toLocaleString('en-US')];
  return [`\`${String(v)}\``];
}

describe('README names every setting as gateway/config.ts has it', () => {
  const all = units(readme);
  it.each(Object.entries(ENV_VARS))('%s sets %s, with its default, in one row or paragraph', (name, key) => {
    const places = all.filter((u) => new RegExp(`\`${name}(=1)?\``).test(u) && u.includes(`\`${key}\``));
    expect(places, `no README row or paragraph names both ${name} and \`${key}\``).not.toHaveLength(0);
    const spellings = defaultSpellings(key)!;
    expect(places.some((u) => spellings.some((d) => u.includes(d))), `${name}: default ${spellings.join(' or ')} not where it is named`).toBe(true);
  });

  it.each(Object.keys(DEFAULT_CONFIG))('config key %s is named, with its default', (key) => {
    const places = all.filter((u) => u.includes(`\`${key}\``));
    expect(places, `\`${key}\` is not in README`).not.toHaveLength(0);
    const spellings = defaultSpellings(key as keyof GatewayConfig)!;
    expect(places.some((u) => spellings.some((d) => u.includes(d))), `${key}: default ${spellings.join(' or ')} not where it is named`).toBe(true);
  });

  it.each(Object.entries(FLAGS))('%s is set by %s, in one row or paragraph', (key, flag) => {
    expect(all.some((u) => u.includes(`\`${key}\``) && u.includes(`\`${flag}\``)), `no README row or paragraph names both \`${key}\` and \`${flag}\``).toBe(true);
  });

  it('every ORIGINPROOF_ variable the documents name exists', () => {
    const testOnly = new Set(['ORIGINPROOF_TEST_CRASH_AT']);
    for (const { f, text } of docs) {
      for (const [name] of text.matchAll(/\bORIGINPROOF_[A-Z0-9_]*[A-Z0-9]\b/g)) {
        expect(name in ENV_VARS || testOnly.has(name), `${f}: ${name} is no environment variable of gateway/config.ts`).toBe(true);
      }
    }
  });
});

describe('README names every metric of gateway/metrics.ts, and no other', () => {
  const m = createMetrics(false);
  setTlsExpiry(m, new Date(0)); // registered only once a TLS certificate is in use
  watchNextKeyCoverage(m, async () => ({ heard: 0, unheard: [] })); // registered only while a next key is announced
  const names = m.registry.getMetricsAsArray().map((x) => x.name);

  it.each(names)('%s', (name) => {
    expect(readme).toMatch(new RegExp(`\\b${name}\\b`));
  });

  // The paragraph an operator reads to set up alerts lists every one (found by review: four were only named in other
  // sections, where an operator looking for what /metrics offers would not find them).
  const metricsParagraph = /^Metrics: [\s\S]*?\n\n/m.exec(readme)?.[0] ?? '';
  it.each(names)("README's Metrics paragraph names %s", (name) => {
    expect(metricsParagraph).toMatch(new RegExp(`\\b${name}\\b`));
  });

  it('every originproof_ metric the documents name is registered', () => {
    for (const { f, text } of docs) {
      for (const [name] of text.matchAll(/\boriginproof_[a-z0-9_]*[a-z0-9]\b/g)) {
        expect(names, `${f}: ${name}`).toContain(name);
      }
    }
  });
});

describe("README's originproof commands exist with the flags it gives them", () => {
  const program = new Command().name('originproof');
  registerCommands(program);

  /** `npx originproof ...` commands in README's shell blocks, continuation lines joined. */
  const commands: string[] = [];
  for (const [, block] of readme.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)) {
    const joined = block!.replace(/\\\n\s*/g, ' ');
    for (const line of joined.split('\n')) {
      const at = line.indexOf('npx originproof ');
      if (at >= 0) commands.push(line.slice(at + 'npx '.length).replace(/\s+#.*$/, '').trim());
    }
  }

  it('finds the walkthroughs', () => {
    expect(commands.length).toBeGreaterThan(20);
  });

  it.each(commands)('%s', (line) => {
    const words = line.split(/\s+/).slice(1);
    let cmd = program;
    while (words.length > 0 && !words[0]!.startsWith('-')) {
      const sub = cmd.commands.find((c) => c.name() === words[0]);
      if (!sub) break;
      cmd = sub;
      words.shift();
    }
    expect(cmd, `no such command in: ${line}`).not.toBe(program);
    expect(cmd.commands.filter((c) => c.name() !== 'help'), `${cmd.name()} needs a subcommand: ${line}`).toHaveLength(0);
    const flags = new Set(cmd.options.map((o) => o.long));
    for (const w of line.split(/\s+/)) {
      const flag = /^\[?(--[a-z0-9-]+)/.exec(w)?.[1];
      if (flag && flag !== '--help') expect(flags, `${cmd.name()} has no ${flag}: ${line}`).toContain(flag);
    }
  });

  it("fetch-revocations --out's help names every file README says it writes", () => {
    const out = program.commands.find((c) => c.name() === 'fetch-revocations')!.options.find((o) => o.long === '--out')!;
    const line = readme.split('\n').find((l) => l.includes('npx originproof fetch-revocations'))!;
    for (const file of ['.rev', '.cert', '.issuer.cert', 'checkpoint', 'format']) {
      expect(line, `README's fetch-revocations line no longer names ${file}`).toContain(file);
      expect(out.description, `fetch-revocations --out's help does not name ${file}`).toContain(file);
    }
  });

  it("gateway --help says what README's Configuration table says of --trust-proxy and --verify-workers", () => {
    // Found by the third README walk: the help named `loopback` alone, and gave the machine's core count as if it were
    // a fixed default ("default 2").
    const gateway = program.commands.find((c) => c.name() === 'gateway')!;
    const help = (flag: string) => gateway.options.find((o) => o.long === flag)!.description;
    const row = (flag: string) => readme.split('\n').find((l) => l.startsWith('|') && l.includes(`\`${flag}\``))!;
    for (const word of ['loopback', 'linklocal', 'uniquelocal', '`off`']) {
      expect(row('--trust-proxy'), `README's row no longer names ${word}`).toContain(word);
      expect(help('--trust-proxy'), `--trust-proxy's help does not name ${word}`).toContain(word.replace(/`/g, ''));
    }
    expect(row('--verify-workers')).toContain('one per core');
    expect(help('--verify-workers')).toContain('one per core');
  });

  it('every flag of originproof gateway is in README', () => {
    const gateway = program.commands.find((c) => c.name() === 'gateway')!;
    for (const o of gateway.options) expect(readme, `${o.long} is not in README`).toContain(`\`${o.long}`);
  });
});

describe("README's links to its own headings resolve", () => {
  /** GitHub's heading anchors: lowercase, punctuation but - and _ dropped, spaces to -, repeats numbered. */
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let inCode = false;
  for (const line of readme.split('\n')) {
    if (line.startsWith('```')) inCode = !inCode;
    const h = inCode ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (!h) continue;
    const slug = h[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  const links = [...readme.matchAll(/\]\(#([^)\s]+)\)/g)].map((l) => l[1]!);

  it.each([...new Set(links)])('#%s', (anchor) => {
    expect(anchors).toContain(anchor);
  });
});
