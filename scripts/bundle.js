#!/usr/bin/env node
// Bundles the compiled CLI (dist/cli/main.js, built by tsc) and its dependencies into a few files
// under dist/bundle/, which bin/keyshift.js loads: one large file starts far faster than the
// hundreds of small ES modules zod, yaml and pino ship as. Dynamic imports stay separate chunks,
// so a command loads only what it uses (and an AWS SDK only when a policy names an AWS store).
import { build } from 'esbuild';
import { rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(new URL('../dist/bundle', import.meta.url), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['dist/cli/main.js'],
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  // pino and its helpers are CommonJS and call require() for Node built-ins.
  banner: { js: "import { createRequire as __keyshiftRequire } from 'node:module'; const require = __keyshiftRequire(import.meta.url);" },
});
writeFileSync(new URL('../dist/bundle/package.json', import.meta.url), '{"type":"module"}\n');
