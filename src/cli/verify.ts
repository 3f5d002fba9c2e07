import { relative, join } from 'node:path';
import { evidenceFile, verifyEvidence } from '../evidence/index.js';
import { ExitCode } from '../errors.js';
import type { EngineContext } from '../engine/context.js';
import type { SecretPolicy } from '../policy/types.js';
import { StoreRegistry, storeId } from '../stores/registry.js';
import type { GlobalOptions, Io } from './main.js';
import { printJson } from './output.js';

/**
 * `evidence verify`: the hash chain, then the anchors (last seq and hash) each store recorded, which
 * catch a log whose last records were cut off. Without loadable policies only the chain is checked.
 */
export async function verifyWithAnchors(g: GlobalOptions, io: Io, loaded: { ctx: EngineContext; policies: SecretPolicy[] | null }): Promise<number> {
  const anchors = loaded.policies ? await collectAnchors(loaded.ctx, loaded.policies) : [];
  const file = evidenceFile(loaded.ctx.evidenceDir);
  const shown = relative(io.cwd, file) || file;
  const verified = await verifyEvidence(loaded.ctx.evidenceDir, anchors);
  // Stores that recorded a chain this log is not (or no log at all): it was deleted or replaced.
  const result =
    verified.ok && anchors.length > 0 && verified.anchorsChecked === 0
      ? {
          ok: false as const,
          line: verified.records === 0 ? 1 : verified.records,
          seq: verified.head?.seq ?? null,
          problem: `${anchors.length} store anchor(s) name an evidence chain this log is not (${[...new Set(anchors.map((a) => a.source))].join(', ')}): the log was deleted or replaced, or those stores write evidence to another --evidence-dir`,
          records: verified.records,
        }
      : verified;
  if (!result.ok) {
    if (g.json) printJson(io.out, { ok: false, file: shown, line: result.line, seq: result.seq, problem: result.problem, records: result.records });
    else io.out.stdout(`${shown}:${result.line}: ${result.problem}\n`);
    io.out.stderr(`keyshift: evidence chain broken at ${shown}:${result.line}\n`);
    return ExitCode.failed;
  }
  if (g.json) {
    printJson(io.out, { ok: true, file: shown, records: result.records, head: result.head, anchorsChecked: result.anchorsChecked, policiesLoaded: loaded.policies !== null });
  } else if (result.records === 0) {
    io.out.stdout(`${shown}: no evidence yet\n`);
  } else {
    io.out.stdout(`${shown}: ${result.records} records, chain intact (head seq ${result.head?.seq} ${result.head?.hash})\n`);
    io.out.stdout(
      loaded.policies
        ? `anchors checked: ${result.anchorsChecked} store(s) agree the log is complete\n`
        : 'anchors not checked: the policies could not be loaded, so truncation of the last records cannot be ruled out\n',
    );
  }
  return ExitCode.ok;
}

async function collectAnchors(ctx: EngineContext, policies: SecretPolicy[]) {
  const stores = new StoreRegistry(ctx);
  const seen = new Set<string>();
  const anchors: Array<{ source: string; chainId: string; seq: number; hash: string }> = [];
  try {
    for (const env of policies.flatMap((p) => p.environments)) {
      const id = storeId(env.store);
      if (seen.has(id)) continue;
      seen.add(id);
      const store = await stores.get(env.store);
      const meta = await store.readMeta();
      for (const [chainId, anchor] of Object.entries(meta.evidenceAnchors)) anchors.push({ source: `store ${store.location}`, chainId, seq: anchor.seq, hash: anchor.hash });
    }
  } finally {
    await stores.closeAll();
  }
  return anchors;
}
