import type { EntryState, StoreFinding } from '../contract.js';
import type { StoredRecord } from '../aws/meta-tags.js';
import { LEASE_LABEL } from './lease.js';
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS, foreignPending, foreignPendingText, type Labels } from './labels.js';

/**
 * `doctor` for one Secrets Manager secret: what its labels show that keyshift's record does not
 * explain (docs/cli.md#doctor). Pure: the description and the decoded record in, findings out.
 */

export interface SecretDescription {
  labels: Labels;
  rotationEnabled: boolean;
  deleted: boolean;
}

export function diagnoseSecret(key: string, secret: SecretDescription, record: StoredRecord | null, state: EntryState): StoreFinding[] {
  const { labels } = secret;
  const named = namedVersions(record, state);
  const findings: StoreFinding[] = [];

  const foreign = foreignPending(labels, [state.rotation?.newVersionId, record?.rotation?.newVersionId]);
  if (foreign) {
    const stages = labels[foreign] ?? [];
    // Clearly safe only when nothing else can be using it: no rotation Lambda, no other label on
    // it, and no rotation of keyshift's ever named it. Removing AWSPENDING then deprecates it.
    const why = secret.rotationEnabled
      ? 'AWS-managed rotation is on, so a rotation Lambda may be using it'
      : secret.deleted
        ? 'the secret is scheduled for deletion'
        : stages.length > 1
          ? `it also carries ${stages.filter((s) => s !== AWSPENDING).join(', ')}`
          : named.has(foreign)
            ? 'a keyshift rotation record names it'
            : null;
    const { message, hint } = foreignPendingText(key, foreign);
    findings.push({
      check: 'foreign-pending',
      severity: 'error',
      message: `${message}; rotate refuses to touch the secret until it is gone${why ? `; not repaired automatically: ${why}` : ''}`,
      hint: `${hint}${why ? '' : ' (or keyshift doctor --fix)'}`,
      ...(why
        ? {}
        : { repair: { ops: [{ type: 'retire' as const, versionId: foreign }], action: `removed AWSPENDING from version ${foreign} of ${key}, which keyshift did not create (the version is now deprecated)`, versionId: foreign } }),
    });
  }

  const unexplained = Object.entries(labels).filter(
    ([id, stages]) => stages.some((s) => s !== LEASE_LABEL) && !stages.some((s) => s === AWSCURRENT || s === AWSPREVIOUS || s === AWSPENDING) && !named.has(id),
  );
  if (unexplained.length > 0) {
    const list = unexplained.map(([id, stages]) => `${id} (${stages.join(', ')})`).join(', ');
    findings.push({
      check: 'unknown-versions',
      severity: 'warning',
      message: `secret ${key} has version(s) ${list} that neither keyshift's rotation record nor AWSCURRENT/AWSPREVIOUS explain`,
      hint: `keyshift leaves them alone; inspect with aws secretsmanager describe-secret --secret-id ${key}; remove a label nobody needs with aws secretsmanager update-secret-version-stage --secret-id ${key} --version-stage <label> --remove-from-version-id <version>`,
    });
  }
  return findings;
}

/** Every version keyshift's record mentions: rotations, announced changes, creations, retirements, evidence. */
function namedVersions(record: StoredRecord | null, state: EntryState): Set<string> {
  const ids = [
    state.rotation?.newVersionId,
    state.rotation?.oldVersionId,
    record?.rotation?.newVersionId,
    record?.rotation?.oldVersionId,
    record?.before?.rotation?.newVersionId,
    record?.before?.rotation?.oldVersionId,
    ...(record?.intent ?? []).map((op) => op.versionId),
    ...Object.keys(record?.created ?? {}),
    ...(record?.retired ?? []).map((r) => r.id),
    ...(record?.pendingEvents ?? []).flatMap((d) => [d.fromVersion, d.toVersion]),
  ];
  return new Set(ids.filter((id): id is string => typeof id === 'string' && id.length > 0));
}
