import type { BucketKey, LimitScope, UsageWindow } from '@tollgate/core';

/**
 * Builds every Redis key of one {@link RedisStore}. An entity id is written
 * length-prefixed (`5:org-9`), so no id can reach another entity's keys, and
 * every key an entity owns carries the hash tag `{hashTag(entity)}`: Redis
 * Cluster places all keys with one tag in one slot, which a cascade's script
 * needs (see docs/redis.md, "Redis Cluster").
 *
 * ```
 * <prefix>{<tag>}:b:<len>:<entity>:<resource>                  bucket (hash: t:<limit> → tat)
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

  /**
   * The keys of one entity, its hash tag computed once: what a script call
   * needs for one bucket without escaping the tag five times.
   */
  owner(entity: string): EntityKeys {
    return new EntityKeys(`${this.prefix}{${this.tagOf(entity)}}:`, `:${entity.length}:${entity}`);
  }

  private owned(kind: string, entity: string): string {
    return `${this.prefix}{${this.tagOf(entity)}}:${kind}:${entity.length}:${entity}`;
  }

  /** The bucket hash of (entity, resource). */
  bucket(key: BucketKey): string {
    return this.owner(key.entity).bucket(key.resource);
  }

  /** The usage hash of (entity, resource) in the window starting at `start` (ms). */
  usage(key: BucketKey, window: UsageWindow, start: number): string {
    return this.owner(key.entity).usage(key.resource, window, start);
  }

  /** The index of an entity's usage windows: members `<start>:<resource>`, scored by start. */
  usageIndex(entity: string, window: UsageWindow): string {
    return this.owner(entity).usageIndex(window);
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

  /** SCAN pattern matching exactly the buckets of one entity. */
  bucketPattern(entity: string): string {
    return `${escapeGlob(this.owned('b', entity))}:*`;
  }
}

/** The keys one entity owns (see {@link RedisKeys} for the layout). */
export class EntityKeys {
  /**
   * @param head `<prefix>{<tag>}:`
   * @param tail `:<len>:<entity>`
   */
  constructor(
    private readonly head: string,
    private readonly tail: string,
  ) {}

  /** The bucket hash of this entity on `resource`. */
  bucket(resource: string): string {
    return `${this.head}b${this.tail}:${resource}`;
  }

  /** The usage hash of this entity on `resource` in the window starting at `start` (ms). */
  usage(resource: string, window: UsageWindow, start: number): string {
    return `${this.head}u${this.tail}:${window}:${start}:${resource}`;
  }

  /** The index of this entity's usage windows. */
  usageIndex(window: UsageWindow): string {
    return `${this.head}i${this.tail}:${window}`;
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
