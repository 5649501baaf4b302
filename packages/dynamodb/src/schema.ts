/**
 * The table layout: key encoding and attribute names. The store, the
 * aggregator, the table definition and the CloudFormation template all read
 * it from here.
 *
 * Every user-supplied component (namespace, entity id, resource) is encoded
 * by escaping only `%` and `#` (as `%25` and `%23`), so an id that contains
 * the delimiter is still one id and no id can reach another record. Other
 * characters are kept as they are: DynamoDB keys are UTF-8, and a 256-character
 * id in any script stays within the key size limits (1024 bytes for a sort
 * key), which `encodeURIComponent` (up to 9 bytes per character) would not.
 */

/** Partition key attribute name (string). */
export const PK = 'PK';
/** Sort key attribute name (string). */
export const SK = 'SK';
/** Name of the parent → children index. */
export const CHILDREN_INDEX = 'GSI1';
/** Partition key of the children index: the parent's partition. */
export const GSI1PK = 'GSI1PK';
/** Sort key of the children index: the child's partition. */
export const GSI1SK = 'GSI1SK';
/** TTL attribute: integer epoch seconds. */
export const TTL = 'ttl';

/** Prefix of the per-limit GCRA state attribute: `tat:rpm` holds `tat` in ns. */
export const TAT_PREFIX = 'tat:';
/** Prefix of the per-limit consumed counter: `consumed:rpm`, updated in the same write. */
export const CONSUMED_PREFIX = 'consumed:';

/** Sort key of the entity record in its partition. */
export const ENTITY_SK = '#ENTITY';
/** Sort key prefix of bucket items (followed by the encoded resource). */
export const BUCKET_SK_PREFIX = '#BUCKET#';
/** Sort key prefix of stored limit sets. */
export const LIMITS_SK_PREFIX = '#LIMITS#';
/** Sort key prefix of usage snapshots (followed by window, start and resource). */
export const USAGE_SK_PREFIX = '#USAGE#';

/**
 * Encodes one key component: `%` → `%25`, `#` → `%23`, everything else kept.
 * Injective, never contains `#`, and at most 3 bytes of UTF-8 per UTF-16 unit.
 */
export function encodeComponent(value: string): string {
  return value.replace(/[%#]/g, (character) => (character === '%' ? '%25' : '%23'));
}

/** Inverse of {@link encodeComponent} (percent-decoding). */
export function decodeComponent(value: string): string {
  return decodeURIComponent(value);
}

/** Builds every key of one namespace. */
export class KeyBuilder {
  private readonly prefix: string;

  constructor(namespace?: string) {
    this.prefix = namespace === undefined ? '' : `NS#${encodeComponent(namespace)}#`;
  }

  /** Partition of an entity: its record, limit sets, buckets and usage. */
  entityPartition(entity: string): string {
    return `${this.prefix}E#${encodeComponent(entity)}`;
  }

  /** Partition of a resource-wide limit set. */
  resourcePartition(resource: string): string {
    return `${this.prefix}R#${encodeComponent(resource)}`;
  }

  /** Partition of the system-wide limit set. */
  systemPartition(): string {
    return `${this.prefix}SYSTEM`;
  }

  /** GSI partition listing the children of `parent`. */
  childrenPartition(parent: string): string {
    return `${this.prefix}P#${encodeComponent(parent)}`;
  }

  /** Key of the bucket item holding every limit of (entity, resource). */
  bucket(entity: string, resource: string): { PK: string; SK: string } {
    return { PK: this.entityPartition(entity), SK: `${BUCKET_SK_PREFIX}${encodeComponent(resource)}` };
  }

  /** Key of the entity record. */
  entity(entity: string): { PK: string; SK: string } {
    return { PK: this.entityPartition(entity), SK: ENTITY_SK };
  }

  /** Key of a limit set at one of the four scopes. */
  limits(scope: { entity?: string | undefined; resource?: string | undefined }): { PK: string; SK: string } {
    const { entity, resource } = scope;
    if (entity !== undefined) {
      const sk =
        resource === undefined ? `${LIMITS_SK_PREFIX}*` : `${LIMITS_SK_PREFIX}R#${encodeComponent(resource)}`;
      return { PK: this.entityPartition(entity), SK: sk };
    }
    if (resource !== undefined) return { PK: this.resourcePartition(resource), SK: `${LIMITS_SK_PREFIX}*` };
    return { PK: this.systemPartition(), SK: `${LIMITS_SK_PREFIX}*` };
  }

  /**
   * Key of a usage snapshot. `start` is the window start in ms; it is zero
   * padded so that sort keys order by time within a window kind.
   */
  usage(entity: string, resource: string, window: 'hour' | 'day', start: number): { PK: string; SK: string } {
    return {
      PK: this.entityPartition(entity),
      SK: `${this.usagePrefix(window)}${padStart(start)}#${encodeComponent(resource)}`,
    };
  }

  /** Sort key prefix of all usage snapshots of one window kind. */
  usagePrefix(window: 'hour' | 'day'): string {
    return `${USAGE_SK_PREFIX}${window}#`;
  }

  /** True when `pk` belongs to this namespace (for the aggregator, which sees every namespace's stream). */
  owns(pk: string): boolean {
    return this.prefix === '' ? !pk.startsWith('NS#') : pk.startsWith(this.prefix);
  }
}

/** Zero-padded 15-digit millisecond timestamp, so that string order is time order. */
export function padStart(ms: number): string {
  return String(ms).padStart(15, '0');
}
