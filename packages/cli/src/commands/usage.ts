import type { UsageSnapshot } from '@tollgate/core';
import { Command, Option } from 'commander';
import {
  type CliContext,
  type ConnectionOptions,
  openLimiter,
  outputFor,
  withConnection,
} from '../context.js';
import { table } from '../output.js';
import { parseTime } from '../time-option.js';

interface UsageOptions extends ConnectionOptions {
  entity: string;
  resource?: string;
  window: 'hour' | 'day';
  from?: string;
  to?: string;
}

/** `tollgate usage`: usage snapshots written by the aggregator, every page. */
export function usageCommand(context: CliContext): Command {
  return withConnection(
    new Command('usage')
      .description('show hourly or daily usage snapshots (written by the aggregator) of an entity')
      .requiredOption('--entity <id>', 'entity id')
      .option('--resource <name>', 'only this resource (default: all)')
      .addOption(new Option('--window <window>', 'snapshot width').choices(['hour', 'day']).default('hour'))
      .option('--from <time>', 'first window start: ISO date, ms since the epoch, or relative like -24h')
      .option('--to <time>', 'end (exclusive), same forms as --from'),
  ).action(async (options: UsageOptions) => {
    const output = outputFor(options, context);
    const limiter = openLimiter(options, context);
    try {
      const snapshots: UsageSnapshot[] = [];
      let pages = 0;
      for await (const page of limiter.usagePages({
        entity: options.entity,
        window: options.window,
        ...(options.resource === undefined ? {} : { resource: options.resource }),
        ...(options.from === undefined ? {} : { from: parseTime(options.from, '--from') }),
        ...(options.to === undefined ? {} : { to: parseTime(options.to, '--to') }),
      })) {
        snapshots.push(...page);
        pages++;
        if (pages > 1) output.note(`read ${pages} pages, ${snapshots.length} snapshots`);
      }
      output.result(snapshots, () => usageTable(snapshots, options.entity));
    } finally {
      await limiter.close();
    }
  });
}

/** Snapshots as a table: one row per window and resource, one column per limit, and a total row. */
export function usageTable(snapshots: readonly UsageSnapshot[], entity: string): string {
  if (snapshots.length === 0) return `No usage recorded for ${entity} in this range`;
  const limits = [...new Set(snapshots.flatMap((snapshot) => Object.keys(snapshot.consumed)))].sort();
  const rows: (string | number)[][] = snapshots.map((snapshot) => [
    new Date(snapshot.start).toISOString().replace('.000Z', 'Z'),
    snapshot.resource,
    ...limits.map((limit) => consumedOf(snapshot, limit)),
  ]);
  if (snapshots.length > 1) {
    const total = (limit: string) =>
      snapshots.reduce((sum, snapshot) => sum + consumedOf(snapshot, limit), 0);
    rows.push(['total', '', ...limits.map(total)]);
  }
  return table(['window start (UTC)', 'resource', ...limits], rows);
}

/** Tokens of one limit in a snapshot; own keys only (a limit may be named `constructor`). */
function consumedOf(snapshot: UsageSnapshot, limit: string): number {
  return Object.hasOwn(snapshot.consumed, limit) ? (snapshot.consumed[limit] ?? 0) : 0;
}
