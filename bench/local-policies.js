// The policies the local-store benchmarks rotate: N secrets in files of 100 (as a team would split
// them), all in one local store.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function writePolicies(dir, count) {
  mkdirSync(join(dir, 'policies'));
  for (let file = 0; file * 100 < count; file++) {
    let text = 'secrets:\n';
    for (let i = file * 100; i < Math.min(count, (file + 1) * 100); i++) {
      text += `  - name: s-${i}\n    interval: 90d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: prod\n        store: { type: local, path: .keyshift/prod.store }\n`;
    }
    writeFileSync(join(dir, 'policies', `team-${String(file).padStart(3, '0')}.yaml`), text);
  }
}
