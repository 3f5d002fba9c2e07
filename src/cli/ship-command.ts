import { ExitCode, usageError } from '../errors.js';
import { parseDuration } from '../policy/durations.js';
import { parseDestination, shipEvidence } from '../evidence/ship.js';
import { engineContext } from './commands.js';
import type { GlobalOptions, Io } from './main.js';
import { printJson } from './output.js';

/** `evidence ship --to s3://bucket/prefix/ [--retain 365d]`: no policies needed, only the log and S3. */
export async function shipCommand(g: GlobalOptions, o: { to: string; retain?: string }, io: Io): Promise<number> {
  const dest = parseDestination(o.to);
  const retainMs = o.retain === undefined ? undefined : parseDuration(o.retain);
  if (retainMs === null) throw usageError(`--retain "${o.retain}" is not a duration`, 'e.g. 365d or 52w (S3 Object Lock retention in compliance mode)');
  const ctx = engineContext(g, io);
  const { openS3 } = await import('../evidence/ship-s3.js');
  const s3 = await openS3(ctx.aws ?? {}, io.env, ctx.logger);
  try {
    const result = await shipEvidence(ctx.evidenceDir, dest, s3, { now: ctx.now(), retainMs, warn: (m) => io.out.stderr(`keyshift: warning: ${m}\n`) });
    if (g.json) printJson(io.out, result);
    else if (!result.shipped) io.out.stdout('no evidence yet: nothing to ship\n');
    else if (result.objects.length === 0) io.out.stdout(`nothing new to ship: seq 1..${result.shipped.seq} are in ${dest.url}\n`);
    else {
      for (const part of result.objects) {
        const lock = part.retention ? `, ${part.retention.mode} until ${part.retention.until}` : '';
        const how = part.adopted ? 'already in the bucket (an earlier ship had not recorded it)' : 'shipped';
        io.out.stdout(`${how}: seq ${part.from}..${part.to} (${part.records} records) to s3://${dest.bucket}/${part.key}${part.versionId ? ` (version ${part.versionId})` : ''}${lock}\n`);
      }
    }
    return ExitCode.ok;
  } finally {
    s3.close();
  }
}
