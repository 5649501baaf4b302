import type { BucketKey, LimitScope, UsageWindow } from '@tollgate/core';

/**
 * Builds every Redis key of one {@link RedisStore}. An entity id is written
 * length-prefixed (`5:org-9`), so no id can reach another entity's keys, and
 * every key an entity owns carries the hash tag `{hashTag(entity)}`: Redis
 * Cluster places all keys with one tag in one slot, which a cascade's script
 * needs (see docs/redis.md, "Redis Cluster").
 *
 * ```
 * <prefix>{<tag>}:b:<len>:<entity>:<resource>                  bucket (hash: t:<limit>, c:<limit>)
 * <prefix>{<tag>}:u:<len>:<entity>:<window>:<start>:<resource> usage (hash: <limit> → tokens)
 * <prefix>{<tag>}:i:<len>:<entity>:<window>                    usage index (sorted set)
 * <prefix>{<tag>}:e:<len>:<entity>                             entity record (JSON string)
 * <prefix>{<tag>}:c:<len>:<entity>                             children (set of ids)
 * <prefix>{<tag>}:l:<len>:<entity>                             entity limit sets (hash: - or r:<resource> → JSON)
 * <prefix>{~}:g                                                resource and system limit sets (hash: scopeKey → JSON)
 * ```
 */
export class RedisKeys {
  constructor(
    private readonly prefix: string,
    private readonly hashTag: (entity: string) => string,
  ) {}

  /** The escaped hash tag of an entity's keys. */
  tagOf(entity: string): string {
    const tag: unknown = this.hashTag(entity);
    if (typeof tag !== 'string') {
      throw new TypeError(`Expected \`hashTag\` to return a string for \`${entity}\`, got ${typeof tag}`);
    }
    return escapeTag(tag);
  }

  private owned(kind: string, entity: string): string {
    return `${this.prefix}{${this.tagOf(entity)}}:${kind}:${entity.length}:${entity}`;
  }

  /** The bucket hash of (entity, resource). */
  bucket(key: BucketKey): string {
    return `${this.owned('b', key.entity)}:${key.resource}`;
  }

  /** The usage hash of (entity, resource) in the window starting at `start` (ms). */
  usage(key: BucketKey, window: UsageWindow, start: number): string {
    return `${this.owned('u', key.entity)}:${window}:${start}:${key.resource}`;
  }

  /** The index of an entity's usage windows: members `<start>:<resource>`, scored by start. */
  usageIndex(entity: string, window: UsageWindow): string {
    return `${this.owned('i', entity)}:${window}`;
  }

  /** The entity record. */
  entity(id: string): string {
    return this.owned('e', id);
  }

  /** The set of an entity's children ids. */
  children(id: string): string {
    return this.owned('c', id);
  }

  /** The hash of an entity's limit sets (entity default and per resource). */
  entityLimits(id: string): string {
    return this.owned('l', id);
  }

  /** The hash of resource and system limit sets. */
  globalLimits(): string {
    return `${this.prefix}{~}:g`;
  }

  /** The hash field of a scope in {@link entityLimits}. */
  static entityLimitField(scope: LimitScope): string {
    return scope.resource === undefined ? '-' : `r:${scope.resource}`;
  }

  /** SCAN patterns matching exactly the buckets and the usage hashes of one entity. */
  ownedPatterns(entity: string): string[] {
    return ['b', 'u'].map((kind) => `${escapeGlob(this.owned(kind, entity))}:*`);
  }
}

/** A non-empty tag without braces (a `}` inside would end the tag early, an empty `{}` would not count). */
function escapeTag(tag: string): string {
  const escaped = tag.replace(/[%{}]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
  return escaped === '' ? '%' : escaped;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}
