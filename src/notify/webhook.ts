import type { Log } from '../log.js';
import type { NotifyTarget } from '../policy/types.js';

/** How long one webhook may take before it is abandoned (a notification never holds up a rotation). */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5_000;

/** What a webhook receives (plus `text`). Never a secret value or a fingerprint of one. */
export interface NotifyEventBody {
  event: string;
  secret: string;
  environment: string;
  rotationId: string | null;
  fromVersion: string | null;
  toVersion: string | null;
  at: string;
  operator: string;
  reason: string;
  ticket: string | null;
  emergency: boolean;
  error?: string;
}

/**
 * POSTs `event` as JSON (with a one-line Slack-compatible `text`) to every target whose `on` lists
 * it, all in parallel. Never throws: a network error, a non-2xx status or a timeout is logged as a
 * warning (naming the webhook by origin and path only) and otherwise ignored.
 */
export async function notify(
  targets: NotifyTarget[],
  event: NotifyEventBody,
  log: Log,
  timeoutMs: number = DEFAULT_WEBHOOK_TIMEOUT_MS,
): Promise<void> {
  const selected = targets.filter((target) => (target.on as readonly string[]).includes(event.event));
  if (selected.length === 0) return;
  const body = JSON.stringify({ ...pickFields(event), text: notificationText(event) });
  await Promise.all(selected.map((target) => post(target.webhook, body, log, timeoutMs)));
}

async function post(webhook: string, body: string, log: Log, timeoutMs: number): Promise<void> {
  const name = safeUrl(webhook);
  try {
    const response = await fetch(webhook, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    // Drain the body so the connection is released; its content is not needed.
    await response.body?.cancel().catch(() => undefined);
    if (response.status < 200 || response.status > 299) log.warn({ webhook: name, status: response.status }, 'webhook failed');
  } catch (error) {
    log.warn({ webhook: name, err: describeError(error, webhook, name) }, 'webhook failed');
  }
}

/** Only the documented fields, in a stable order (an unexpected extra property is never sent). */
function pickFields(event: NotifyEventBody): NotifyEventBody {
  const fields: NotifyEventBody = {
    event: event.event,
    secret: event.secret,
    environment: event.environment,
    rotationId: event.rotationId,
    fromVersion: event.fromVersion,
    toVersion: event.toVersion,
    at: event.at,
    operator: event.operator,
    reason: event.reason,
    ticket: event.ticket,
    emergency: event.emergency,
  };
  if (event.error !== undefined) fields.error = event.error;
  return fields;
}

/** e.g. `keyshift: api-key/prod switched v-1 → v-2 (reason: scheduled, operator: alice@host)`. */
export function notificationText(event: NotifyEventBody): string {
  const versions =
    event.fromVersion !== null && event.toVersion !== null
      ? ` ${event.fromVersion} → ${event.toVersion}`
      : event.toVersion !== null
        ? ` ${event.toVersion}`
        : event.fromVersion !== null
          ? ` ${event.fromVersion}`
          : '';
  const details = [`reason: ${event.reason}`, `operator: ${event.operator}`];
  if (event.ticket !== null) details.push(`ticket: ${event.ticket}`);
  if (event.emergency) details.push('emergency');
  const error = event.event === 'failed' && event.error !== undefined ? `: ${event.error}` : '';
  const line = `keyshift: ${event.secret}/${event.environment} ${event.event}${versions}${error} (${details.join(', ')})`;
  return line.replace(/[\r\n]+/g, ' ');
}

/** Origin and path only: the query, fragment and user info may carry tokens. */
export function safeUrl(webhook: string): string {
  try {
    // Origin only: for Slack-style webhooks the path itself is the credential.
    const url = new URL(webhook);
    return url.pathname === '/' ? url.origin : `${url.origin}/…`;
  } catch {
    return '(invalid url)';
  }
}

/** A short reason (`ECONNREFUSED`, `timed out`); a message that quotes the URL gets the safe form. */
function describeError(error: unknown, webhook: string, name: string): string {
  if (!(error instanceof Error)) return 'unknown error';
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'timed out';
  const cause = (error as { cause?: unknown }).cause;
  if (typeof cause === 'object' && cause !== null && 'code' in cause) return String((cause as { code: unknown }).code);
  return error.message.split(webhook).join(name);
}
