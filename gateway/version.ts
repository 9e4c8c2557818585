/** The package version, from package.json (found from both the sources and dist/). */
import { existsSync, readFileSync } from 'node:fs';

function find(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) {
      const pkg = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'originproof' && pkg.version) return pkg.version;
    }
  }
  return '0.0.0';
}

export const VERSION = find();
