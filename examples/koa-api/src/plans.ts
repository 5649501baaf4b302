import { type CreateEntityInput, Limit, type RateLimiter } from '@tollgate/core';

/**
 * What every caller gets on the catalogue routes (resource `catalog`): the
 * limiter's defaults, used wherever no stored limits apply.
 */
export const DEFAULT_LIMITS = [Limit.perMinute('rpm', 20)];

/** Every caller's search budget: stored once for the resource `search`, one token per query. */
const SEARCH_LIMITS = [Limit.perMinute('searches', 10)];

/** The organisation whose keys share its budget. */
export const ORGANISATION = 'org-acme';

/**
 * The organisation's own budgets, stored on it per resource: its keys spend
 * them together (cascade), on top of each key's own limits.
 */
const ORGANISATION_LIMITS = {
  catalog: [Limit.perMinute('rpm', 30)],
  search: [Limit.perMinute('searches', 15)],
} as const;

/** The organisation's API keys; any other key, or none, is limited on its own. */
export const ORGANISATION_KEYS = ['key-acme-1', 'key-acme-2'] as const;

/**
 * Stores the plans above: the search budget, the organisation with its limits,
 * and its keys cascading to it. Safe to run again on a table that has them
 * already (a restart against the same DynamoDB table).
 */
export async function setUpPlans(limiter: RateLimiter): Promise<void> {
  await limiter.setLimits({ resource: 'search' }, SEARCH_LIMITS);
  await ensureEntity(limiter, { id: ORGANISATION, name: 'Acme Corp' });
  for (const [resource, limits] of Object.entries(ORGANISATION_LIMITS)) {
    await limiter.setLimits({ entity: ORGANISATION, resource }, limits);
  }
  for (const key of ORGANISATION_KEYS) {
    await ensureEntity(limiter, { id: key, parent: ORGANISATION, cascade: true });
  }
}

async function ensureEntity(limiter: RateLimiter, entity: CreateEntityInput): Promise<void> {
  if ((await limiter.getEntity(entity.id)) === null) await limiter.createEntity(entity);
}
