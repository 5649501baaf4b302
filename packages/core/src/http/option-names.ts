import { invalidOption } from './options.js';

const PERIOD =
  'a limit carries its own window: pass `limits: [Limit.perMinute("rpm", 100)]` (or `Limit.custom({ name, capacity, refillAmount, refillPeriodMs })`) to the RateLimiter, or to this `limits` option';
const RATE =
  'a limit carries its own rate: pass `limits: [Limit.perMinute("rpm", 100)]` to the RateLimiter, or to this `limits` option';
const STORE =
  'the store belongs to the RateLimiter: `new RateLimiter({ store, limits })`, passed as `limiter`';
const FAIL_OPEN = "failing open is the RateLimiter's `onUnavailable: 'allow'`";
const SUBNET = 'key IPv6 clients by another prefix with `entity: (req) => ipKey(req.ip, { ipv6Subnet: 64 })`';
const HEADERS =
  "use `headers: 'draft-6' | 'draft-7' | 'draft-8' | false` and `legacyHeaders: true` for `X-RateLimit-*`";
const NO_BAN =
  'Tollgate has no ban: a limited client is refused until its bucket has refilled enough (`Retry-After` says when)';

/**
 * Options of express-rate-limit, @nestjs/throttler, @fastify/rate-limit and
 * koa-ratelimit (and express-slow-down) that Tollgate does not take, with
 * what to use instead. A misspelt or foreign option is an error, not silently ignored:
 * `rateLimit({ limiter, windowMs: 60_000, max: 5 })` would otherwise run
 * with the limiter's defaults and look configured.
 */
const FOREIGN_OPTIONS: Readonly<Record<string, string>> = {
  windowMs: PERIOD,
  ttl: PERIOD,
  timeWindow: PERIOD,
  duration: PERIOD,
  max: RATE,
  limit: `${RATE} (\`limits\` takes Limit objects)`,
  throttlers:
    'several limits are one list: `limits: [Limit.perSecond("short", 3), Limit.perMinute("long", 100)]`',
  name: 'a policy is named by its limit: `Limit.perMinute("rpm", 100)`',
  keyGenerator: 'use `entity: (req) => string` (`ipKey(address)` keys by client address, IPv6 by subnet)',
  id: 'use `entity: (req) => string` (`ipKey(address)` keys by client address, IPv6 by subnet)',
  getTracker: 'use `entity: (req) => string` (in Nest you can also override `RateLimitGuard.getTracker`)',
  generateKey: 'keys are built from `entity` and `resource`; return what should share a budget from those',
  identifier: 'draft-8 policy names are the limit names (`Limit.perMinute("rpm", 100)` is `"rpm"`)',
  handler: 'use `onLimited` (Express, Koa) for a custom limited response, or `message` and `statusCode`',
  errorResponseBuilder: 'use `message: (req, error) => body` and `statusCode`',
  errorMessage: 'use `message` (a string, a JSON object, or `(req, error) => body`)',
  onLimitReached: 'use `onLimited`, or subscribe to the `tollgate:decision` diagnostics channel',
  onExceeded: 'use `onLimited`, or subscribe to the `tollgate:decision` diagnostics channel',
  onExceeding: 'subscribe to the `tollgate:decision` diagnostics channel',
  standardHeaders: HEADERS,
  draft_polli_ratelimit_headers: HEADERS,
  enableDraftSpec: HEADERS,
  addHeaders: HEADERS,
  addHeadersOnExceeding: HEADERS,
  setHeaders: HEADERS,
  store: STORE,
  storage: STORE,
  driver: STORE,
  db: STORE,
  redis: "use `new RedisStore({ client })` from @tollgate/redis as the RateLimiter's `store`",
  passOnStoreError: FAIL_OPEN,
  skipOnError: FAIL_OPEN,
  ipv6Subnet: SUBNET,
  ipv6SubnetPrefix: SUBNET,
  skipIf: 'use `skip: (req) => boolean` (in Nest also `@SkipRateLimit()`)',
  allowList: 'use `skip: (req) => boolean`, e.g. `skip: (req) => allowed.has(req.ip)`',
  whitelist: 'use `skip: (req) => boolean`, e.g. `skip: (req) => allowed.has(req.ip)`',
  blacklist: 'refuse blocked clients in a middleware of your own before this one; `skip` only exempts',
  disableHeader: HEADERS,
  status: 'use `statusCode`',
  throw: 'the limited response is answered here; to raise it as an error instead, throw from `onLimited`',
  ignoreUserAgents: "use `skip: (req) => /bot/i.test(req.headers['user-agent'] ?? '')`",
  blockDuration: NO_BAN,
  ban: NO_BAN,
  retryAfter: '`Retry-After` is computed from the exact wait of the limit that refused',
  global:
    'limit every route by mounting the middleware with `app.use()`; in Nest, `global` is an argument of `RateLimitModule.forRoot()` beside the options, not one of the options a `forRootAsync` factory returns',
  delayAfter:
    'Tollgate refuses rather than delays; to wait for capacity in process use `limiter.acquire({ wait: { maxMs } })`',
  delayMs:
    'Tollgate refuses rather than delays; to wait for capacity in process use `limiter.acquire({ wait: { maxMs } })`',
};

/**
 * The option names one flow accepts, and how unknown ones are explained.
 * Built once per adapter (the accepted names are the core's plus the
 * adapter's own, such as `onLimited`).
 */
export class OptionNames {
  private readonly accepted: ReadonlySet<string>;
  private readonly hints: Readonly<Record<string, string>>;

  /**
   * @param core the options every adapter takes
   * @param extra the adapter's own options
   * @param hints the adapter's explanations, over the foreign-option ones
   */
  constructor(
    core: readonly string[],
    extra: readonly string[] = [],
    hints: Readonly<Record<string, string>> = {},
  ) {
    this.accepted = new Set([...core, ...extra]);
    this.hints = { ...FOREIGN_OPTIONS, ...hints };
  }

  /**
   * Throws `ERR_TOLLGATE_INVALID_OPTION` naming every own key of `options`
   * that is not accepted, with the Tollgate equivalent of a known foreign
   * option or the nearest accepted name. `field` is the first such key.
   */
  check(options: object): void {
    const unknown = Object.keys(options).filter((key) => !this.accepted.has(key));
    const first = unknown[0];
    if (first === undefined) return;
    const explained = unknown.map((key) => `\`${printable(key)}\`: ${this.explain(key)}`);
    throw invalidOption(
      first,
      `Unknown option${unknown.length > 1 ? 's' : ''} ${explained.join('; ')}. Accepted options: ${[...this.accepted].map((name) => `\`${name}\``).join(', ')}`,
    );
  }

  private explain(key: string): string {
    const hint = Object.hasOwn(this.hints, key) ? this.hints[key] : undefined;
    if (hint !== undefined) return hint;
    const near = nearest(key, this.accepted);
    return near === undefined ? 'not a Tollgate option' : `did you mean \`${near}\`?`;
  }
}

/** A key as the message shows it: at most 64 characters (a config object may hold anything). */
function printable(key: string): string {
  return JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key).slice(1, -1);
}

/** The accepted name within two edits of `key` (case-insensitive), if exactly one is nearest. */
function nearest(key: string, accepted: ReadonlySet<string>): string | undefined {
  if (key.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of accepted) {
    const distance = editDistance(key.toLowerCase(), name.toLowerCase());
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance; the inputs are option names, so the quadratic table is tiny. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}
