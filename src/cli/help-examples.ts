/**
 * Examples shown at the end of each command's --help, as the AWS and Vault CLIs do. Every command
 * here also appears in docs/cli.md, where a test runs it (test/e2e/docs-cli.test.js).
 */
const EXAMPLES: Record<string, Array<[what: string, command: string]>> = {
  init: [
    ['Scaffold policies/example.yaml in the current directory', 'keyshift init'],
    ['Scaffold a new project directory', 'keyshift init my-project'],
  ],
  validate: [
    ['Check every policy in ./policies', 'keyshift validate'],
    ['Check one file, as JSON (for CI)', 'keyshift validate -p policies/secrets.yaml --json'],
    ['Check the values in the stores against the validate: rules (no value is printed)', 'keyshift validate --values'],
  ],
  schema: [['Save the JSON Schema for your editor', 'keyshift schema > keyshift.schema.json']],
  plan: [
    ['What rotate would do now', 'keyshift plan'],
    ['One secret in one environment, as JSON', 'keyshift plan webhook-signing-key --env prod --json'],
    ['Also the work that falls due within two weeks', 'keyshift plan --horizon 14d'],
    ['What runner 1 of 2 would do', 'keyshift plan --shard 1/2'],
  ],
  rotate: [
    ['Scheduled run (CI): whatever is due, in every secret', 'keyshift rotate --all'],
    ['Emergency after a suspected compromise: test it with a dry run first', 'keyshift rotate --all --force --reason "suspected compromise" --ticket INC-1234 --dry-run'],
    ['Then rotate every secret now, retiring the old keys right after each switch', 'keyshift rotate --all --force --reason "suspected compromise" --ticket INC-1234 --fallback-window 0'],
    ['One secret, one environment', 'keyshift rotate webhook-signing-key --env dev'],
    ['JSON output for scripts', 'keyshift rotate --all --json'],
    ['Runner 1 of 2 in an emergency: its shard of the secrets, half of each AWS quota, its own evidence log', 'keyshift rotate --all --force --reason "suspected compromise" --shard 1/2 --evidence-dir evidence/shard-1'],
  ],
  status: [
    ['Every secret in every environment', 'keyshift status'],
    ['One secret in prod, as JSON', 'keyshift status webhook-signing-key --env prod --json'],
  ],
  get: [
    ['The CURRENT value in the first environment', 'keyshift get webhook-signing-key'],
    ['The old value during the fallback window', 'keyshift get webhook-signing-key --env prod --stage previous'],
  ],
  rollback: [
    ['Put the old key back in every environment still in its fallback window', 'keyshift rollback webhook-signing-key --reason "clients fail with the new key"'],
    ['Only prod, with a change ticket, as JSON', 'keyshift rollback webhook-signing-key --env prod --ticket CHG-42 --json'],
  ],
  doctor: [
    ['Explain what keeps keyshift from going forward', 'keyshift doctor'],
    ['Repair what is safe to repair', 'keyshift doctor --fix'],
  ],
  'evidence verify': [
    ['Check the evidence chain and the stores\' anchors', 'keyshift evidence verify'],
    ['As JSON (for CI)', 'keyshift evidence verify --json'],
    ['Several logs (each runner\'s --evidence-dir), each chain against the stores\' anchors', 'keyshift evidence verify evidence evidence/shard-1 evidence/shard-2'],
  ],
  'evidence merge': [
    ['One time-ordered file from the runners\' logs', 'keyshift evidence merge evidence/shard-1 evidence/shard-2 --out merged.jsonl'],
  ],
  run: [
    ['One secret in the child\'s environment (it exits 0 when the variable is set)', 'keyshift run webhook-signing-key --env prod -- sh -c \'test -n "$WEBHOOK_SIGNING_KEY"\''],
    ['Every secret of dev; the child\'s exit code is keyshift\'s', 'keyshift run --env dev -- sh -c \'exit 3\''],
  ],
  env: [
    ['For eval in a POSIX shell (prints values, like get)', 'keyshift env webhook-signing-key --env dev --format shell'],
    ['As JSON', 'keyshift env webhook-signing-key --env dev --json'],
  ],
  'evidence anchors': [
    ['The anchors each store keeps, for an auditor\'s own check', 'keyshift evidence anchors --json'],
  ],
  report: [
    ['The audit report of the last 90 days, in Markdown', 'keyshift report --since 90d'],
    ['One self-contained HTML page with the timeline chart', 'keyshift report --format html --out report.html'],
    ['As JSON', 'keyshift report --json'],
  ],
  check: [
    ['From cron, with metrics for node_exporter\'s textfile collector', 'keyshift check --prometheus keyshift.prom'],
    ['As JSON', 'keyshift check --json'],
  ],
};

export function examplesHelp(command: string): string {
  const examples = EXAMPLES[command] ?? [];
  return `\nExamples:\n${examples.map(([what, line]) => `  # ${what}\n  $ ${line}\n`).join('\n')}`;
}

export function allExamples(): string[] {
  return Object.values(EXAMPLES).flatMap((list) => list.map(([, line]) => line));
}
