import type { LimitScope } from '@tollgate/core';
import { Command } from 'commander';
import {
  type CliContext,
  type ConnectionOptions,
  openLimiter,
  outputFor,
  withConnection,
} from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { formatLimitSpec, parseLimitSpec } from '../limit-spec.js';
import { table } from '../output.js';

interface ScopeOptions extends ConnectionOptions {
  entity?: string;
  resource?: string;
}

interface SetOptions extends ScopeOptions {
  limit: string[];
}

function withScope(command: Command): Command {
  return withConnection(
    command
      .option('--entity <id>', 'entity scope (with --resource: entity+resource scope)')
      .option('--resource <name>', 'resource scope (alone: the resource default for every entity)'),
  );
}

function scopeOf(options: ScopeOptions): LimitScope {
  return { entity: options.entity, resource: options.resource };
}

function describeScope(scope: LimitScope): string {
  if (scope.entity !== undefined && scope.resource !== undefined)
    return `entity ${scope.entity} on ${scope.resource}`;
  if (scope.entity !== undefined) return `entity ${scope.entity}`;
  if (scope.resource !== undefined) return `resource ${scope.resource}`;
  return 'system';
}

/** `tollgate limits set|get|delete` at system, resource, entity and entity+resource scope. */
export function limitsCommand(context: CliContext): Command {
  const command = new Command('limits').description(
    'manage stored limits: system (no scope option), --resource, --entity, or --entity with --resource',
  );

  withScope(
    command
      .command('set')
      .description('replace the limit set of a scope')
      .requiredOption(
        '-l, --limit <spec>',
        'limit as name:rate/period[:burst], e.g. rpm:100/min or tpm:10000/min:20000 (repeatable)',
        (value: string, previous: string[] = []) => [...previous, value],
      ),
  ).action(async (options: SetOptions) => {
    const limits = options.limit.map(parseLimitSpec);
    const limiter = openLimiter(options, context);
    try {
      const scope = scopeOf(options);
      await limiter.setLimits(scope, limits);
      const definitions = limits.map((limit) => limit.toJSON());
      outputFor(options, context).result({ scope, limits: definitions }, () =>
        [`Set limits of ${describeScope(scope)}`, limitTable(definitions)].join('\n'),
      );
    } finally {
      await limiter.close();
    }
  });

  withScope(command.command('get').description('show the limit set stored at exactly this scope')).action(
    async (options: ScopeOptions) => {
      const limiter = openLimiter(options, context);
      try {
        const scope = scopeOf(options);
        const limits = (await limiter.getLimits(scope)).map((limit) => limit.toJSON());
        if (limits.length === 0) {
          throw new CliError(
            EXIT.notFound,
            'ERR_TOLLGATE_CLI_NO_LIMITS',
            `No limits stored for ${describeScope(scope)}`,
          );
        }
        outputFor(options, context).result({ scope, limits }, () => limitTable(limits));
      } finally {
        await limiter.close();
      }
    },
  );

  withScope(command.command('delete').description('remove the limit set of a scope')).action(
    async (options: ScopeOptions) => {
      const limiter = openLimiter(options, context);
      try {
        const scope = scopeOf(options);
        if (!(await limiter.deleteLimits(scope))) {
          throw new CliError(
            EXIT.notFound,
            'ERR_TOLLGATE_CLI_NO_LIMITS',
            `No limits stored for ${describeScope(scope)}`,
          );
        }
        outputFor(options, context).result(
          { scope, deleted: true },
          () => `Deleted limits of ${describeScope(scope)}`,
        );
      } finally {
        await limiter.close();
      }
    },
  );
  return command;
}

function limitTable(
  limits: readonly { name: string; capacity: number; refillAmount: number; refillPeriodMs: number }[],
): string {
  return table(
    ['limit', 'spec', 'capacity', 'refill', 'period (ms)'],
    limits.map((limit) => [
      limit.name,
      formatLimitSpec(limit),
      limit.capacity,
      limit.refillAmount,
      limit.refillPeriodMs,
    ]),
  );
}
