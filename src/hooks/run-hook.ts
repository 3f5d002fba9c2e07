import type { HookSpec } from '../policy/types.js';
import type { HookContext, HookResult } from './types.js';
import { runCommandHook } from './command-hook.js';
import { runHttpHook } from './http-hook.js';

export type { HookContext, HookPhase, HookResult } from './types.js';

/**
 * Runs one deploy/verify/rollback/revoke hook and reports how it went; never throws for a hook
 * failure. `result.error` is one line naming the hook and what happened, never its output.
 */
export async function runHook(hook: HookSpec, ctx: HookContext): Promise<HookResult> {
  if (hook.kind === 'http') return runHttpHook(hook, ctx);
  return runCommandHook(hook, ctx);
}
