import { Command, Option } from 'commander';
import {
  type CliContext,
  type ConnectionOptions,
  clientConfig,
  openClient,
  outputFor,
  withConnection,
} from '../context.js';
import { withDeadline } from '../deadline.js';
import { details } from '../output.js';

interface AggregateOptions extends ConnectionOptions {
  once?: boolean;
  from: 'trim-horizon' | 'latest';
  interval: string;
  batchSize: string;
}

/**
 * `tollgate aggregate`: the usage aggregator on a table's stream, outside
 * Lambda (DynamoDB Local, or any table for a backfill). The same code the
 * Lambda handler runs.
 */
export function aggregateCommand(context: CliContext): Command {
  return withConnection(
    new Command('aggregate')
      .description('run the usage aggregator against the table stream (DynamoDB Local); Ctrl-C stops it')
      .option('--once', 'stop when the stream has no new records (for scripts and tests)')
      .addOption(
        new Option(
          '--from <position>',
          'where to begin in each shard; replaying is safe, nothing counts twice',
        )
          .choices(['trim-horizon', 'latest'])
          .default('trim-horizon'),
      )
      .option('--interval <ms>', 'pause between polls that found nothing', '1000')
      .option('--batch-size <n>', 'records per batch', '100'),
  ).action(async (options: AggregateOptions) => {
    const output = outputFor(options, context);
    // Loaded here so that other commands do not pay for the streams client.
    const [{ DynamoDBStreams }, { runLocalAggregator }] = await Promise.all([
      import('@aws-sdk/client-dynamodb-streams'),
      import('@tollgate/dynamodb/aggregator'),
    ]);
    // Every request, to the table and to its stream, has the --timeout deadline.
    const client = openClient(options, context);
    const streams = withDeadline(new DynamoDBStreams(clientConfig(options, context.env)), options.timeout);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      if (options.once !== true)
        output.note(`Aggregating usage from the stream of ${options.table}; Ctrl-C stops`);
      const summary = await runLocalAggregator({
        client,
        streams,
        tableName: options.table,
        namespace: options.namespace,
        untilDrained: options.once === true,
        startingPosition: options.from === 'latest' ? 'LATEST' : 'TRIM_HORIZON',
        pollIntervalMs: Number(options.interval),
        batchSize: Number(options.batchSize),
        signal: stop.signal,
        logger: { error: (message, detail) => output.note(`${message} ${JSON.stringify(detail ?? {})}`) },
        onBatch: (batch) => {
          if (batch.bucketChanges > 0 || batch.batchItemFailures.length > 0) {
            output.note(
              `batch: ${batch.records} records, ${batch.bucketChanges} bucket changes, ` +
                `${batch.snapshots.applied + batch.snapshots['partly-replayed']} snapshots written, ` +
                `${batch.snapshots.replayed} already counted, ${batch.failedSnapshots} failed`,
            );
          }
        },
      });
      output.result(summary, () =>
        details([
          ['batches', summary.batches],
          ['records', summary.records],
          ['bucket changes', summary.bucketChanges],
          ['snapshot writes', summary.snapshotWrites],
          ['failed batches', summary.failedBatches],
        ]),
      );
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      client.destroy();
      streams.destroy();
    }
  });
}
