import type { EntityRecord, ResetScope, UpdateEntityInput } from '@tollgate/core';
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

interface UpdateOptions extends ConnectionOptions {
  parent?: string;
  detach?: boolean;
  /** `--cascade` true, `--no-cascade` false, neither undefined. */
  cascade?: boolean;
  name?: string;
  clearName?: boolean;
  metadata?: string;
  clearMetadata?: boolean;
}

interface ResetOptions extends ConnectionOptions {
  resource?: string;
}

/** `tollgate entity create|get|update|children|delete|reset`. */
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

  updateCommand(command, context);

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

  resetCommand(command, context);
  return command;
}

/** `tollgate entity update <id>`: each flag maps to one field of `UpdateEntityInput`. */
function updateCommand(command: Command, context: CliContext): void {
  withConnection(
    command
      .command('update')
      .description(
        'change the parent, cascade flag, name or metadata of an entity; flags not given keep theirs',
      )
      .argument('<id>', 'entity id')
      .option('--parent <id>', 'move it under this entity (it must exist and must not be a descendant)')
      .option('--detach', 'remove its parent, making it a root')
      .option('--cascade', "also charge the parent's limits on every acquire of this entity")
      .option('--no-cascade', "stop charging the parent's limits")
      .option('--name <name>', 'new display name')
      .option('--clear-name', 'remove the display name')
      .option('--metadata <json>', 'JSON object replacing the stored metadata whole')
      .option('--clear-metadata', 'remove the metadata'),
  ).action(async (id: string, options: UpdateOptions) => {
    // Checked before connecting: a bad command line costs no request.
    const changes = changesOf(options);
    const limiter = openLimiter(options, context);
    try {
      const record = await limiter.updateEntity(id, changes);
      outputFor(options, context).result(
        record,
        () => `Updated entity ${record.id}\n${entityTable([record])}`,
      );
    } finally {
      await limiter.close();
    }
  });
}

/**
 * `tollgate entity reset <id>`: under `entity` rather than at the top, where
 * the bare verbs (`delete`, `status`) act on the stack.
 */
function resetCommand(command: Command, context: CliContext): void {
  withConnection(
    command
      .command('reset')
      .description(
        'empty the buckets of a key so its limits are full again (stored limits, record and usage stay)',
      )
      .argument('<id>', 'entity id (the key the limiter charges)')
      .option('--resource <name>', 'only the bucket of this resource (default: every resource)'),
  ).action(async (id: string, options: ResetOptions) => {
    const limiter = openLimiter(options, context);
    try {
      const scope: ResetScope =
        options.resource === undefined ? { entity: id } : { entity: id, resource: options.resource };
      const bucketsReset = await limiter.reset(scope);
      outputFor(options, context).result({ ...scope, bucketsReset }, () =>
        describeReset(scope, bucketsReset),
      );
    } finally {
      await limiter.close();
    }
  });
}

function describeReset(scope: ResetScope, bucketsReset: number): string {
  const where = scope.resource === undefined ? scope.entity : `${scope.entity} on ${scope.resource}`;
  if (bucketsReset === 0) return `Nothing to reset: no bucket of ${where} holds state`;
  return `Reset ${bucketsReset} ${bucketsReset === 1 ? 'bucket' : 'buckets'} of ${where}`;
}

/**
 * The changes the flags ask for. A value and its removal together, or no
 * change at all, is an argument error (an empty update is most likely a
 * mistake in a script).
 */
function changesOf(options: UpdateOptions): UpdateEntityInput {
  eitherOr(options.parent !== undefined, options.detach === true, '--parent', '--detach');
  eitherOr(options.name !== undefined, options.clearName === true, '--name', '--clear-name');
  eitherOr(options.metadata !== undefined, options.clearMetadata === true, '--metadata', '--clear-metadata');
  const changes: UpdateEntityInput = {
    ...(options.detach === true ? { parent: null } : {}),
    ...(options.parent === undefined ? {} : { parent: options.parent }),
    ...(options.cascade === undefined ? {} : { cascade: options.cascade }),
    ...(options.clearName === true ? { name: null } : {}),
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.clearMetadata === true ? { metadata: null } : {}),
    ...(options.metadata === undefined ? {} : { metadata: parseMetadata(options.metadata) }),
  };
  if (Object.keys(changes).length === 0) {
    throw new CliError(
      EXIT.usage,
      'ERR_TOLLGATE_INVALID_OPTION',
      'Nothing to change: give --parent, --detach, --cascade, --no-cascade, --name, --clear-name, --metadata or --clear-metadata',
    );
  }
  return changes;
}

function eitherOr(first: boolean, second: boolean, firstFlag: string, secondFlag: string): void {
  if (first && second) {
    throw new CliError(
      EXIT.usage,
      'ERR_TOLLGATE_INVALID_OPTION',
      `Use either ${firstFlag} or ${secondFlag}, not both`,
    );
  }
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
