import { spawn } from 'node:child_process';
import { KeyshiftError } from '../../errors.js';

/** The error codes of protocol v1 and keyshift's codes for them (docs/stores/command.md). */
const CODES: Record<string, { code: string; retryable?: boolean; exitCode?: 1 | 3 }> = {
  NOT_FOUND: { code: 'ERR_VERSION_NOT_FOUND' },
  ACCESS_DENIED: { code: 'ERR_STORE_ACCESS_DENIED' },
  UNAVAILABLE: { code: 'ERR_STORE_UNAVAILABLE', retryable: true },
  THROTTLED: { code: 'ERR_STORE_THROTTLED', retryable: true },
  REFUSED: { code: 'ERR_STORE_REFUSED' },
  UNSUPPORTED: { code: 'ERR_STORE_UNSUPPORTED' },
};

export const PROTOCOL = 1;
const MAX_REPLY_BYTES = 16 * 1024 * 1024;

export interface CallOptions {
  run: string[];
  timeoutMs: number;
  env: NodeJS.ProcessEnv;
}

/**
 * One call of protocol v1: start `run`, write one JSON request on its stdin, read one JSON reply
 * from its stdout. Values travel only there. A program that hangs, prints garbage or exits non-zero
 * without a reply is an error naming the program; its stderr is never shown (it may hold values).
 */
export function callStore(options: CallOptions, request: Record<string, unknown>): Promise<Record<string, unknown>> {
  const program = options.run[0] as string;
  const what = `command store ${program} (op ${String(request.op)})`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, options.run.slice(1), { env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (error: KeyshiftError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new KeyshiftError('ERR_STORE_TIMEOUT', `${what} did not reply within ${options.timeoutMs} ms; it was stopped`, { hint: 'fix the program, or raise the store\'s timeout', retryable: true })),
      options.timeoutMs,
    );
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REPLY_BYTES) fail(new KeyshiftError('ERR_STORE_PROTOCOL', `${what} printed more than ${MAX_REPLY_BYTES} bytes; a reply is one JSON object`));
      else out.push(chunk);
    });
    child.stderr.resume();
    child.stdin.on('error', () => undefined); // a program that exits without reading: judged by its reply
    child.on('error', (error) =>
      fail(new KeyshiftError('ERR_STORE_COMMAND', `${what} cannot be started (${(error as NodeJS.ErrnoException).code ?? error.message})`, { exitCode: 2, hint: 'check the store\'s run: (the program must exist and be executable)' })),
    );
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const text = Buffer.concat(out).toString('utf8').trim();
      let reply: Record<string, unknown> | null = null;
      try {
        const parsed: unknown = JSON.parse(text);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) reply = parsed as Record<string, unknown>;
      } catch {
        reply = null;
      }
      const exit = signal ? `was killed by ${signal}` : `exited ${code}`;
      if (reply && reply.error && typeof reply.error === 'object') {
        const { code: theirs, message } = reply.error as { code?: unknown; message?: unknown };
        const mapped = CODES[String(theirs)];
        const note = typeof message === 'string' ? message.slice(0, 300).replace(/\s+/g, ' ') : '';
        if (!mapped) return reject(new KeyshiftError('ERR_STORE_PROTOCOL', `${what} replied with the unknown error code ${JSON.stringify(String(theirs)).slice(0, 40)}${note ? ` (${note})` : ''}`));
        return reject(new KeyshiftError(mapped.code, `${what}: ${String(theirs)}${note ? ` (${note})` : ''}`, { retryable: mapped.retryable }));
      }
      if (code !== 0 || signal) {
        return reject(new KeyshiftError('ERR_STORE_COMMAND', `${what} ${exit} without a reply${reply ? '' : ' it understood'}; nothing was changed by keyshift`, { hint: 'run the program by hand with the request on stdin (docs/stores/command.md#testing-a-store)', retryable: true }));
      }
      if (!reply) {
        return reject(new KeyshiftError('ERR_STORE_PROTOCOL', `${what} printed ${text ? `${text.length} bytes that are not one JSON object` : 'nothing'}; a reply is one JSON object on stdout`, { hint: 'see docs/stores/command.md#protocol' }));
      }
      resolve(reply);
    });
    child.stdin.end(`${JSON.stringify({ protocol: PROTOCOL, ...request })}\n`);
  });
}
