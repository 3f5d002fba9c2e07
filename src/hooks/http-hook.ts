import type { HttpHook } from '../policy/types.js';
import type { HookContext, HookResult } from './types.js';
import { errorCode, formatDuration } from './output.js';

/** Runs an HTTP verify hook: one request, no value sent, no redirects followed. */
export async function runHttpHook(hook: HttpHook, ctx: HookContext): Promise<HookResult> {
  const started = Date.now();
  const target = `${hook.label} ${hook.method} ${safeUrl(hook.url)}`;
  let status: number | null = null;
  let timedOut = false;
  let error: string | null = null;
  try {
    const response = await fetch(hook.url, { method: hook.method, signal: AbortSignal.timeout(hook.timeoutMs), redirect: 'manual' });
    status = response.status;
    await response.body?.cancel().catch(() => undefined);
    if (status !== hook.expectStatus) error = `${target} answered ${status}, expected ${hook.expectStatus}`;
  } catch (caught) {
    const name = caught instanceof Error ? caught.name : '';
    if (name === 'TimeoutError' || name === 'AbortError') {
      timedOut = true;
      error = `${target} timed out after ${formatDuration(hook.timeoutMs)}`;
    } else {
      const cause = caught instanceof Error && caught.cause !== undefined ? caught.cause : caught;
      error = `${target} failed: ${errorCode(cause)}`;
    }
  }
  const durationMs = Date.now() - started;
  const ok = error === null;
  const fields = { hook: hook.label, phase: ctx.phase, status, durationMs };
  if (ok) ctx.log.info(fields, 'hook finished');
  else ctx.log.warn({ ...fields, timedOut }, 'hook finished');
  return { ok, label: hook.label, exitCode: null, signal: null, timedOut, durationMs, error };
}

/** The URL without user:password, for messages. */
function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url;
  }
}
