import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Written into the bundle by scripts/bundle.js; undeclared in the unbundled build (dist/cli). */
declare const KEYSHIFT_BUNDLED_VERSION: string | undefined;

let cached: string | undefined;

/** keyshift's version, from its package.json (two levels up from dist/cli/ and from dist/bundle/). */
export function packageVersion(): string {
  // The bundle knows it from its build: reading package.json was a tenth of a millisecond of every start.
  if (typeof KEYSHIFT_BUNDLED_VERSION === 'string') return KEYSHIFT_BUNDLED_VERSION;
  // import.meta.filename (Node >= 20.11) spares a URL.
  const here = import.meta.filename as string | undefined;
  cached ??= (JSON.parse(readFileSync(here ? join(here, '..', '..', '..', 'package.json') : new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
