// A logger with the methods of src/log.ts's Log (pino's, narrowed) that keeps every call, for tests
// that check what keyshift logs: `logs` holds [level, message, fields], and ['child', bindings].
export function recordingLog() {
  const logs = [];
  const log = { child: (bindings) => (logs.push(['child', bindings]), log) };
  for (const level of ['trace', 'debug', 'info', 'warn', 'error']) log[level] = (fields, message) => logs.push([level, message, fields]);
  return { log, logs };
}
