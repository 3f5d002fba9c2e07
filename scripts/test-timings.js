// A reporter for Node's test runner that writes one line per finished top-level test: its file,
// its duration in ms and its name. scripts/run-tests.js adds it beside the TAP output and prints
// the slowest files at the end, so a CI run shows where its minutes went.
export default async function* timings(source) {
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0) {
      yield `${JSON.stringify({ file: event.data.file, ms: Math.round(event.data.details.duration_ms), name: event.data.name })}\n`;
    }
  }
}
