import type { EntityRecord } from '@tollgate/core';
import { Command } from 'commander';
import {
  type CliContext,
  type ConnectionOptions,
  openLimiter,
  outputFor,
  withConnection,
} from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { table } from '../output.js';

interface CreateOptions extends ConnectionOptions {
  parent?: string;
  cascade?: boolean;
  name?: string;
  metadata?: string;
}

/** `tollgate entity create|get|children|delete`. */
export function entityCommand(context: CliContext): Command {
  const command = new Command('entity').description('manage entities: API keys, users, organisations');

  withConnection(
    command
      .command('create')
      .description('create an entity (its parent must exist)')
      .argument('<id>', 'entity id')
      .option('--parent <id>', 'parent entity, e.g. the organisation of a key')
      .option('--cascade', "also charge the parent's limits on every acquire of this entity")
      .option('--name <name>', 'display name')
      .option('--metadata <json>', 'JSON object stored with the entity'),
  ).action(async (id: string, options: CreateOptions) => {
    const limiter = openLimiter(options, context);
    try {
      const record = await limiter.createEntity({
        id,
        cascade: options.cascade === true,
        ...(options.parent === undefined ? {} : { parent: options.parent }),
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(options.metadata === undefined ? {} : { metadata: parseMetadata(options.metadata) }),
      });
      outputFor(options, context).result(
        record,
        () => `Created entity ${record.id}\n${entityTable([record])}`,
      );
    } finally {
      await limiter.close();
    }
  });

  withConnection(command.command('get').description('show an entity').argument('<id>', 'entity id')).action(
    async (id: string, options: ConnectionOptions) => {
      const limiter = openLimiter(options, context);
      try {
        const record = await limiter.getEntity(id);
        if (record === null)
          throw new CliError(EXIT.notFound, 'ERR_TOLLGATE_ENTITY_NOT_FOUND', `No entity ${id}`);
        outputFor(options, context).result(record, () => entityTable([record]));
      } finally {
        await limiter.close();
      }
    },
  );

  withConnection(
    command
      .command('children')
      .description('list the direct children of an entity')
      .argument('<id>', 'parent id'),
  ).action(async (id: string, options: ConnectionOptions) => {
    const limiter = openLimiter(options, context);
    try {
      const children = await limiter.getChildren(id);
      outputFor(options, context).result(children, () =>
        children.length === 0 ? `Entity ${id} has no children` : entityTable(children),
      );
    } finally {
      await limiter.close();
    }
  });

  withConnection(
    command
      .command('delete')
      .description('delete an entity with its limit sets, buckets and usage (refused while it has children)')
      .argument('<id>', 'entity id'),
  ).action(async (id: string, options: ConnectionOptions) => {
    const limiter = openLimiter(options, context);
    try {
      const existed = await limiter.deleteEntity(id);
      if (!existed) throw new CliError(EXIT.notFound, 'ERR_TOLLGATE_ENTITY_NOT_FOUND', `No entity ${id}`);
      outputFor(options, context).result({ id, deleted: true }, () => `Deleted entity ${id}`);
    } finally {
      await limiter.close();
    }
  });
  return command;
}

function entityTable(records: readonly EntityRecord[]): string {
  return table(
    ['id', 'parent', 'cascade', 'name', 'created', 'metadata'],
    records.map((record) => [
      record.id,
      record.parent ?? '',
      record.cascade ? 'yes' : 'no',
      record.name ?? '',
      record.createdAt,
      record.metadata === undefined ? '' : JSON.stringify(record.metadata),
    ]),
  );
}

function parseMetadata(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliError(
      EXIT.usage,
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected --metadata to be a JSON object, got ${text}`,
    );
  }
  return value as Record<string, unknown>;
}
