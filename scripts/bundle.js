#!/usr/bin/env node
// Bundles the compiled CLI (dist/cli/main.js, built by tsc) and its dependencies into a few files
// under dist/bundle/, which bin/keyshift.js loads: one large file starts far faster than the
// hundreds of small modules commander, zod and yaml ship as. Dynamic imports stay separate chunks,
// so a command loads only what it uses (and an AWS SDK only when a policy names an AWS store).
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Node built-ins that take milliseconds to load and that a warm `plan` or `--help` never calls
 * (child processes run hooks and command generators; crypto serves the store and the evidence;
 * os and util a few helpers). Each import of them gets functions that load the real module on
 * their first call; registered symbols hung on a function (`inspect.custom`) are copied as they are.
 * Only functions are offered: importing anything else from these modules fails the build.
 */
const LAZY_BUILTINS = ['child_process', 'crypto', 'os', 'util'];

const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
    b.onResolve({ filter }, (args) =>
      args.namespace === 'lazy-builtin' ? { path: `node:${args.path.replace(/^node:/, '')}`, external: true } : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({ contents: lazyModule(args.path), loader: 'js' }));
  },
};

function lazyModule(name) {
  const real = createRequire(import.meta.url)(`node:${name}`);
  const functions = Object.keys(real).filter((key) => typeof real[key] === 'function' && /^[a-z]/.test(key));
  return [
    `import { createRequire } from 'node:module';`,
    `let real;`,
    `const load = () => (real ??= createRequire(import.meta.url)('node:${name}'));`,
    ...functions.map((key) => `export function ${key}(...args) { return load().${key}(...args); }`),
    ...functions.flatMap((key) =>
      Object.getOwnPropertyNames(real[key])
        .filter((prop) => typeof real[key][prop] === 'symbol' && Symbol.keyFor(real[key][prop]) !== undefined)
        .map((prop) => `${key}.${prop} = Symbol.for(${JSON.stringify(Symbol.keyFor(real[key][prop]))});`),
    ),
  ].join('\n');
}

/**
 * `import { z } from 'zod'` is a namespace object, so a bundler keeps every module zod re-exports
 * from it, used or not. Three that keyshift never uses are replaced by small stand-ins, which
 * makes the policy loader (the first `plan` after an edit) much less code to load:
 *  - the ~60 message locales (half of zod): keyshift's messages are its own, in English, and
 *    zod's default locale `en` is kept;
 *  - `z.compile` (a code generator for faster parsers) and `z.fromJSONSchema`: they throw if called.
 */
const ZOD_STAND_INS = {
  'locales/index.js': "export { default as en } from './en.js';",
  'core/compile.js': [
    "export const INVALID = Symbol.for('zod.compile.invalid');",
    'export class ZodCompileAsyncError extends Error {}',
    'export class ZodCompileUnsupportedError extends Error {}',
    "const missing = () => { throw new Error('z.compile is not part of the keyshift bundle (scripts/bundle.js)'); };",
    'export const compile = missing, withParser = missing, compileFn = missing;',
  ].join('\n'),
  'classic/from-json-schema.js': "export function fromJSONSchema() { throw new Error('z.fromJSONSchema is not part of the keyshift bundle (scripts/bundle.js)'); }",
};

const zodTrim = {
  name: 'zod-trim',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\/(locales\/index|compile|from-json-schema)\.js$/ }, (args) => {
      const zod = /[\\/]zod[\\/]v4[\\/]/;
      if (!zod.test(args.importer)) return undefined;
      const path = join(dirname(args.importer), args.path);
      const key = Object.keys(ZOD_STAND_INS).find((name) => path.endsWith(join('v4', name)));
      return key ? { path, namespace: 'zod-stand-in', pluginData: key } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'zod-stand-in' }, (args) => ({ contents: ZOD_STAND_INS[args.pluginData], resolveDir: dirname(args.path), loader: 'js' }));
  },
};

/**
 * yaml's Node build is CommonJS, which a bundler keeps whole; its ES module build (the same code,
 * published for browsers) lets the bundle keep only the parser keyshift imports. The two differ
 * only in debug logging read from process.env and in decoding YAML 1.1 `!!binary` tags (atob).
 */
const yamlEsm = {
  name: 'yaml-esm',
  setup(b) {
    b.onResolve({ filter: /^yaml$/ }, () => ({ path: join(root, 'node_modules', 'yaml', 'browser', 'dist', 'index.js') }));
  },
};

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
  // Less source for V8 to scan at every start (names are kept: stack traces stay readable).
  minifyWhitespace: !process.env.KEYSHIFT_BUNDLE_READABLE,
  minifySyntax: !process.env.KEYSHIFT_BUNDLE_READABLE,
  sourcemap: 'linked',
  logLevel: 'warning',
  plugins: [lazyBuiltins, zodTrim, yamlEsm],
  // Database drivers stay packages of their own: better-sqlite3 loads a native addon beside its
  // code, and both are imported only when `reencrypt` runs (an optional dependency may be absent).
  external: ['better-sqlite3', 'pg'],
  // commander is CommonJS and calls require() for Node built-ins (pino is loaded with createRequire).
  banner: { js: "import { createRequire as __keyshiftRequire } from 'node:module'; const require = __keyshiftRequire(import.meta.url);" },
});
writeFileSync(new URL('../dist/bundle/package.json', import.meta.url), '{"type":"module"}\n');
