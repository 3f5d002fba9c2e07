import { ExitCode, KeyshiftError } from '../errors.js';
import type { Target } from './context.js';
import { targetLabel } from './context.js';
import { isExecutable, planTarget, type PlanOptions } from './planner.js';

/**
 * Protected environments (`requireTicket`) with work to do refuse the whole run without --ticket.
 * `rotate` and `rotate --dry-run` both call this, so a dry run fails where the real run would.
 */
export async function requireTickets(targets: Target[], planOptions: PlanOptions): Promise<void> {
  const gated: string[] = [];
  for (const target of targets.filter((t) => t.environment.requireTicket)) {
    const actions = planTarget({ ...target, state: await target.store.read(target.key) }, planOptions);
    if (actions.some((a) => isExecutable(a, planOptions.now))) gated.push(targetLabel(target));
  }
  if (gated.length === 0) return;
  throw new KeyshiftError('ERR_TICKET_REQUIRED', `${gated.join(', ')} require a change ticket; nothing was changed`, {
    exitCode: ExitCode.blocked,
    hint: 'rerun with --ticket <id> (it is recorded in the evidence), or leave those environments out with --env',
  });
}
