// Loaded with --import into a keyshift run: records the process's peak RSS (KiB) when it exits.
import { appendFileSync } from 'node:fs';

const target = process.env.KEYSHIFT_BENCH_RSS_FILE;
if (target) process.on('exit', () => appendFileSync(target, `${process.resourceUsage().maxRSS}\n`));
