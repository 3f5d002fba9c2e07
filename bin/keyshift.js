#!/usr/bin/env node
// Thin entry: everything lives in the bundled CLI (npm install builds it via the prepare script).
// `--version` is answered here so that scripts probing for keyshift pay only for Node's start-up.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { readFileSync } = await import('node:fs');
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
} else {
  if (args.includes('rotate')) {
    // A rotation allocates short-lived records by the thousand: a young generation that does not
    // grow keeps a 10,000-secret run's peak memory near half (bench/README.md: ~2-3% more CPU).
    (await import('node:v8')).setFlagsFromString('--semi-space-growth-factor=1');
  }
  let cli;
  try {
    cli = await import('../dist/bundle/main.js');
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    process.stderr.write('keyshift: the CLI is not built\n  hint: run `npm install` (or `npm run build`) in the keyshift checkout\n');
    process.exit(1);
  }
  process.exitCode = await cli.main(process.argv);
}
