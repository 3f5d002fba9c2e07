import { readFileSync } from 'node:fs';
import { join } from 'node:path';

let cached: string | undefined;

/** keyshift's version, from its package.json (two levels up from dist/cli/ and from dist/bundle/). */
export function packageVersion(): string {
  // import.meta.filename (Node >= 20.11, and the bundle) spares a URL: every command asks for this.
  const here = import.meta.filename as string | undefined;
  cached ??= (JSON.parse(readFileSync(here ? join(here, '..', '..', '..', 'package.json') : new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
