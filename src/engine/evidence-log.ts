import { EvidenceLog } from '../evidence/writer.js';
import type { EngineContext } from './context.js';

/**
 * The run's evidence log: its lock waits as long as the store locks, and it tells the run's log what
 * it repaired. Apart from context.ts, which `plan` and `status` load: they never write evidence.
 */
export function openEvidenceLog(ctx: Pick<EngineContext, 'evidenceDir' | 'lockWaitMs' | 'logger'>): EvidenceLog {
  return new EvidenceLog(ctx.evidenceDir, { lockWaitMs: ctx.lockWaitMs, logger: ctx.logger });
}
