import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { createProgram } from '../src/program.js';
import { runInProcess } from './run-in-process.js';

function commandPaths(command: Command, prefix: string[] = []): string[][] {
  return command.commands.flatMap((sub) => {
    const path = [...prefix, sub.name()];
    return [path, ...commandPaths(sub, path)];
  });
}

const silentStreams = { stdout: { write: () => true }, stderr: { write: () => true } };
const paths = commandPaths(createProgram({ streams: silentStreams, env: {} }));

describe('tollgate --help', () => {
  it('covers every command the issue asks for', () => {
    const names = paths.map((path) => path.join(' '));
    for (const expected of [
      'local start',
      'local stop',
      'local status',
      'table create',
      'table delete',
      'table status',
      'entity create',
      'entity get',
      'entity update',
      'entity children',
      'entity delete',
      'entity reset',
      'limits set',
      'limits get',
      'limits delete',
      'usage',
      'aggregate',
      'template',
      'deploy',
      'delete',
      'status',
      'capacity',
      'bench',
    ]) {
      expect(names).toContain(expected);
    }
  });

  it.each(paths.map((path) => [path.join(' '), path]))(
    'prints usage for `%s --help` and exits 0',
    async (_, path) => {
      const { code, stdout } = await runInProcess([...(path as string[]), '--help']);
      expect(code).toBe(0);
      expect(stdout).toContain(`Usage: tollgate ${(path as string[]).join(' ')}`);
    },
  );

  it('documents --json on every command that prints a result', async () => {
    for (const path of paths) {
      const { stdout } = await runInProcess([...path, '--help']);
      const isGroup = /Commands:/.test(stdout);
      if (isGroup || path[0] === 'template') continue;
      expect(stdout, path.join(' ')).toContain('--json');
    }
  });

  it('exits 2 on an unknown option or command, pointing at --help', async () => {
    const unknownOption = await runInProcess(['capacity', '--rps', '1', '--frobnicate']);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain("unknown option '--frobnicate'");
    expect(unknownOption.stderr).toContain('--help');
    expect((await runInProcess(['frobnicate'])).code).toBe(2);
    expect((await runInProcess(['capacity'])).code).toBe(2);
  });

  it('prints the version', async () => {
    const { code, stdout } = await runInProcess(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
