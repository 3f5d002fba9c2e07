import type { Stage, VersionInfo, VersionOp } from '../contract.js';

/** Secrets Manager's staging labels and keyshift's stages. */
export const AWSCURRENT = 'AWSCURRENT';
export const AWSPENDING = 'AWSPENDING';
export const AWSPREVIOUS = 'AWSPREVIOUS';

export type Labels = Record<string, string[]>; // VersionIdsToStages

export function holderOf(labels: Labels, label: string): string | undefined {
  return Object.entries(labels).find(([, stages]) => stages.includes(label))?.[0];
}

/**
 * AWS's own rotation leaves AWSPENDING on the new version next to AWSCURRENT once it is done; keyshift
 * does the same (so a rotation Lambda could take over), and counts such a version as CURRENT only.
 */
export function toVersions(labels: Labels, created: Record<string, string>, fallbackCreatedAt: string): VersionInfo[] {
  const versions: VersionInfo[] = [];
  for (const [id, awsStages] of Object.entries(labels)) {
    const stages: Stage[] = [];
    if (awsStages.includes(AWSCURRENT)) stages.push('CURRENT');
    else if (awsStages.includes(AWSPENDING)) stages.push('PENDING');
    if (awsStages.includes(AWSPREVIOUS)) stages.push('PREVIOUS');
    if (stages.length > 0) versions.push({ id, stages, createdAt: created[id] ?? fallbackCreatedAt });
  }
  return versions;
}

/** Whether a version change of an earlier write shows in the labels. */
export function isApplied(op: VersionOp, labels: Labels): boolean {
  const stages = labels[op.versionId] ?? [];
  if (op.type === 'create') return op.versionId in labels;
  if (op.type === 'promote') return stages.includes(AWSCURRENT);
  return !stages.includes(AWSPREVIOUS) && !stages.includes(AWSPENDING);
}

/** What an operator reads about a foreign AWSPENDING (rotate's refusal, doctor's finding): what it is, and how to inspect and clear it. */
export function foreignPendingText(key: string, version: string): { message: string; hint: string } {
  return {
    message: `secret ${key} has AWSPENDING on version ${version}, which keyshift did not create (a rotation by someone else, or one that failed)`,
    hint: `inspect it with aws secretsmanager describe-secret --secret-id ${key}; if it is not needed, clear it with aws secretsmanager update-secret-version-stage --secret-id ${key} --version-stage AWSPENDING --remove-from-version-id ${version}`,
  };
}

/** An AWSPENDING that keyshift did not put there: on another version than CURRENT and not ours. */
export function foreignPending(labels: Labels, ours: Array<string | undefined>): string | undefined {
  const pending = holderOf(labels, AWSPENDING);
  if (!pending || pending === holderOf(labels, AWSCURRENT) || ours.includes(pending)) return undefined;
  return pending;
}
