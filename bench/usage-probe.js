// Loaded with --import into a keyshift run: records the process's peak RSS and CPU time when it
// exits, as JSON ({ maxRssKiB, cpuMs }). The CPU time is what a loaded machine distorts least.
import { writeFileSync } from 'node:fs';

const target = process.env.KEYSHIFT_BENCH_USAGE_FILE;
if (target) {
  process.on('exit', () => {
    const usage = process.resourceUsage();
    writeFileSync(target, JSON.stringify({ maxRssKiB: usage.maxRSS, cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000 }));
  });
}
