import { z } from 'zod';
import { isHttpUrl, strict } from './schema-common.js';

// Notifications (docs/policies.md#notifications): a webhook receives a JSON body for the listed events.
export const NOTIFY_EVENTS = [
  'failed',
  'switched',
  'decommissioned',
  'rolled-back',
  'provisioned',
  'issued',
  'deployed',
  'verified',
] as const;
export const DEFAULT_NOTIFY_EVENTS = ['failed', 'switched', 'decommissioned', 'rolled-back'] as const;

const WEBHOOK_EXAMPLE = 'e.g. webhook: https://hooks.example.com/keyshift';

export const notifyTargetSchema = strict({
  webhook: z
    .string()
    .refine(isHttpUrl, { error: `must be an absolute http:// or https:// URL, ${WEBHOOK_EXAMPLE}` })
    .optional()
    .meta({ description: 'The URL that receives a JSON POST (with a Slack-compatible `text`).', pattern: '^[hH][tT][tT][pP][sS]?://' }),
  on: z
    .array(z.enum(NOTIFY_EVENTS, { error: `must be one of ${NOTIFY_EVENTS.join(', ')}` }), {
      error: `must be a list of events, e.g. on: [failed, switched]`,
    })
    .min(1, { error: `is empty; list at least one event (${NOTIFY_EVENTS.join(', ')}) or leave on out for the default` })
    .optional()
    .meta({ description: `Events to send (default ${DEFAULT_NOTIFY_EVENTS.join(', ')}).`, default: [...DEFAULT_NOTIFY_EVENTS] }),
})
  .check((ctx) => {
    if (ctx.value.webhook === undefined) {
      ctx.issues.push({ code: 'custom', input: ctx.value, path: ['webhook'], message: `missing; a notify target needs a webhook, ${WEBHOOK_EXAMPLE}` });
    }
  })
  .meta({ description: 'A webhook notified of rotation events; the secret value is never sent.', required: ['webhook'] });
