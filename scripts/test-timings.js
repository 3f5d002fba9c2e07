// A reporter for Node's test runner that writes one line per finished top-level test (its file,
// its duration in ms and its name) and one per failed test at any depth (with the first lines of
// its error). scripts/run-tests.js adds it beside the TAP output and prints, at the end, the slowest
// files and every failure, so the tail of a CI log shows where its minutes went and what broke.
export default async function* timings(source) {
  for await (const event of source) {
    const { type, data } = event;
    if ((type === 'test:pass' || type === 'test:fail') && data.nesting === 0) {
      yield `${JSON.stringify({ file: data.file, ms: Math.round(data.details.duration_ms), name: data.name })}\n`;
    }
    // A suite whose subtests failed fails too; its own line would only repeat theirs.
    if (type === 'test:fail' && data.details.error?.failureType !== 'subtestsFailed') {
      const error = data.details.error;
      const cause = error?.cause ?? error;
      // The message and the test's own frames; Node's internal frames say nothing about the failure.
      const message = String(cause?.stack ?? cause?.message ?? cause)
        .split('\n')
        .filter((line) => line.trim() !== '' && !/^\s+at .*\(?node:/.test(line))
        .slice(0, 12)
        .join('\n');
      yield `${JSON.stringify({ failed: true, file: data.file, name: data.name, message })}\n`;
    }
  }
}
