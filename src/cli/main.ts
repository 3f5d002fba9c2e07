import { parseDirect } from './direct.js';
import { failed, withInterrupts } from './guard.js';
import { processOutput, type Output } from './output.js';

/**
 * keyshift's entry. A command line that direct.ts takes whole (one of the commands a user runs to
 * look, with plain options) runs without commander; any other, and every help, goes to the
 * commander program (program.ts), loaded then. Handlers (commands.ts, change-commands.ts, …) are
 * imported when their command runs, so `--help` loads almost nothing.
 */

export { COMMANDS, type TopLevelCommand } from './command-table.js';

export interface Io {
  env: NodeJS.ProcessEnv;
  cwd: string;
  out: Output;
}

export interface GlobalOptions {
  policies: string;
  evidenceDir: string;
  json: boolean;
  logLevel?: string;
  quiet: boolean;
  lockTimeout: string;
  region?: string;
  profile?: string;
  endpointUrl?: string;
}

export async function main(argv: string[], io: Io = { env: process.env, cwd: process.cwd(), out: processOutput }): Promise<number> {
  const direct = parseDirect(argv.slice(2));
  if (direct === null) return (await import('./program.js')).runProgram(argv, io);
  const { command, globals, options, args } = direct;
  return withInterrupts(io, async () => {
    try {
      return await command.run(await import('./commands.js'), globals, args, options, io);
    } catch (error) {
      return failed(io, error, globals.json);
    }
  });
}
