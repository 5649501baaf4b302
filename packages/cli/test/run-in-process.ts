import { runCli } from '../src/program.js';

/** What one in-process CLI run printed and returned. */
export interface CapturedRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tollgate <args>` in this process with captured output. */
export async function runInProcess(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<CapturedRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['node', 'tollgate', ...args], {
    streams: {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
    },
    env,
  });
  return { code, stdout, stderr };
}
