import { ExitCode } from '../errors.js';
import { checkStoredValues } from '../engine/value-audit.js';
import { withPolicies } from './commands.js';
import type { GlobalOptions, Io } from './main.js';
import { printJson, printTable } from './output.js';

/**
 * `keyshift validate --values`: the policies first (exit 2 on a policy error), then every CURRENT
 * value against its secret's `validate:` rules. Prints which rules fail, never a value.
 */
export async function validateValuesCommand(g: GlobalOptions, o: { env?: string[] }, io: Io): Promise<number> {
  return withPolicies(g, io, async (ctx, policies, files) => {
    const rows = await checkStoredValues(ctx, policies, { names: [], all: true, envs: o.env ?? [] });
    const valid = rows.every((r) => r.status === 'ok' || r.status === 'missing');
    if (g.json) printJson(io.out, { valid, values: rows, files });
    else {
      printTable(
        io.out,
        ['SECRET', 'ENV', 'CURRENT', 'RESULT'],
        rows.map((r) => [r.secret, r.environment, r.versionId, resultText(r)]),
      );
      const unchecked = policies.filter((p) => p.validate === null).length;
      io.out.stdout(`\n${rows.filter((r) => r.status === 'ok').length} value(s) pass, ${rows.filter((r) => r.status === 'rejected').length} fail their rules${unchecked > 0 ? `; ${unchecked} secret(s) have no validate: rules` : ''}\n`);
    }
    for (const r of rows.filter((row) => row.error)) io.out.stderr(`keyshift: ${r.secret}/${r.environment}: ${r.error?.message}\n${r.error?.hint ? `  hint: ${r.error.hint}\n` : ''}`);
    return valid ? ExitCode.ok : ExitCode.failed;
  });
}

function resultText(row: { status: string; failed: Array<{ rule: string; requirement: string }>; error: { code: string } | null }): string {
  if (row.status === 'rejected') return `fails ${row.failed.map((f) => `validate.${f.rule} (${f.requirement})`).join(', ')}`;
  if (row.status === 'missing') return 'not provisioned';
  if (row.status === 'error') return `unknown (${row.error?.code})`;
  return 'ok';
}
