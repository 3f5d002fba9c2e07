import { relative, join } from 'node:path';
import { evidenceFile, verifyEvidence } from '../evidence/index.js';
import { findRollbacks, readStoresForVerify } from '../engine/store-rollback.js';
import { ExitCode } from '../errors.js';
import type { EngineContext } from '../engine/context.js';
import type { SecretPolicy } from '../policy/types.js';
import type { GlobalOptions, Io } from './main.js';
import { printJson } from './output.js';

/**
 * `evidence verify`: the hash chain, then the anchors (last seq and hash) each store recorded, which
 * catch a log whose last records were cut off. Without loadable policies only the chain is checked.
 */
export async function verifyWithAnchors(g: GlobalOptions, io: Io, loaded: { ctx: EngineContext; policies: SecretPolicy[] | null }): Promise<number> {
  const { anchors, reads } = loaded.policies ? await readStoresForVerify(loaded.ctx, loaded.policies) : { anchors: [], reads: [] };
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
  // The stores against the log: an intact log says what each store must hold now.
  const stores = (await findRollbacks(loaded.ctx.evidenceDir, reads)).map((p) => ({
    check: p.check, secret: p.target.policy.name, environment: p.target.environment.name, store: p.target.store.location, message: p.message, hint: p.hint,
  }));
  if (stores.length > 0) {
    const problem = stores.map((p) => `${p.check}: ${p.message}`).join('; ');
    if (g.json) printJson(io.out, { ok: false, file: shown, line: null, seq: null, problem, records: result.records, stores });
    else for (const p of stores) io.out.stdout(`${p.check} ${p.secret}/${p.environment}: ${p.message}\n  hint: ${p.hint}\n`);
    io.out.stderr(`keyshift: the chain of ${shown} is intact, but ${stores.length} store(s) hold an older state than it records\n`);
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
