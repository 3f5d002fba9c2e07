// The AWS calls one forced rotation of one secret or key makes (`rotate <name> --force`, default
// fallback window, so no decommission), per operation, as the loopback fakes log them. One table
// for the quota floors of bench/aws-*.js and the fault suite (test/reliability/faults.test.js, which
// faults every call); test/bench/call-counts.test.js measures a rotation and fails when its calls
// drift from this table. Since the leases (docs/workflow.md#leases) a rotation also takes and
// releases its lease: Secrets Manager 1 TagResource + 2 UpdateSecretVersionStage + reads, KMS
// CreateAlias + TagResource + DeleteAlias + reads. A Secrets Manager secret keyshift never rotated
// is read once with ListSecretVersionIds (its current value's age).
export const CALLS_PER_ROTATION = {
  'aws-secrets-manager': { DescribeSecret: 13, ListSecretVersionIds: 1, GetSecretValue: 1, PutSecretValue: 1, UpdateSecretVersionStage: 4, TagResource: 3 },
  'aws-kms': { DescribeKey: 13, ListResourceTags: 10, GetKeyPolicy: 1, CreateAlias: 1, CreateKey: 1, TagResource: 4, UpdateAlias: 1, DeleteAlias: 1 },
};

/** All the calls of one rotation on `store`. */
export function totalCalls(store) {
  return Object.values(CALLS_PER_ROTATION[store]).reduce((sum, n) => sum + n, 0);
}

/**
 * One rotation's calls per quota class (a fake's QUOTA_CLASS_OF: operation -> class), only the
 * classes in `classes`: e.g. Secrets Manager's {versionWrites: 5, tags: 3}.
 */
export function perQuotaClass(store, classOf, classes) {
  const counts = Object.fromEntries(classes.map((name) => [name, 0]));
  for (const [op, n] of Object.entries(CALLS_PER_ROTATION[store])) {
    const name = classOf[op];
    if (name === undefined) throw new Error(`${store}: the fake names no quota class for ${op}`);
    if (name in counts) counts[name] += n;
  }
  return counts;
}
