import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  describeValue,
  type ErrorBodyOptions,
  isRateLimitExceeded,
  isRateLimiterUnavailable,
  isTollgateError,
  type RateLimitExceeded,
  type RateLimitExceededBody,
  type RateLimiterUnavailable,
  type RateLimiterUnavailableBody,
  rateLimitExceededBody,
  rateLimiterUnavailableBody,
  ValidationError,
  type ValidationErrorBody,
} from '../errors.js';
import type { Limit } from '../limit.js';
import type { Decision } from '../limiter/decision.js';
import { type Lease, settledWithoutWrite } from '../limiter/lease.js';
import { RateLimiter } from '../limiter/rate-limiter.js';
import type { AcquireRequest } from '../limiter/types.js';
import type { Consumption, LimitStatus, Logger } from '../types.js';
import {
  HEADER_STANDARDS,
  type HeaderStandard,
  RateLimitHeaderWriter,
  retryAfterSeconds,
} from './headers.js';
import { ipKey } from './ip-key.js';
import { RESOLVED, type RequestOutcome, settleWatched, watchResponse } from './response-watch.js';

export type { RequestOutcome } from './response-watch.js';

import { OptionNames } from './option-names.js';
import {
  booleanOption,
  consumptionOrFunction,
  invalidOption,
  isThenable,
  limitedBody,
  limitedMessage,
  limitedStatusCode,
  type MaybePromise,
  optionalFunction,
  propertyName,
  stringOrFunction,
  validateOption,
} from './options.js';
import { checkProxy, HttpWarnings, type ProxySetting, type ValidateOption, warnOnce } from './warnings.js';

/**
 * Options shared by every HTTP adapter (`rateLimit()` for Express and Koa,
 * `RateLimitModule` for Nest). `Req` is the framework's request (Express
 * `req`, Koa `ctx`, the Nest platform request).
 */
export interface HttpRateLimitOptions<Req> {
  /** The limiter to acquire from; build it once at startup and share it. */
  limiter: RateLimiter;
  /** Who is charged. Default: `ipKey(client address)`. */
  entity?: (req: Req) => MaybePromise<string>;
  /** What is used: a name or a function of the request. Default `'default'`. */
  resource?: string | ((req: Req) => MaybePromise<string>);
  /** Tokens per limit, or a function of the request. Default: 1 of every limit that applies. */
  consume?: Consumption | ((req: Req) => MaybePromise<Consumption>);
  /** Limits for these requests only, overriding stored and default limits. */
  limits?: readonly Limit[];
  /** Requests for which this returns true are not limited (and not charged). */
  skip?: (req: Req) => MaybePromise<boolean>;
  /**
   * Standard headers: `'draft-8'` (default; one named policy per limit),
   * `'draft-7'` (combined `RateLimit: limit=100, remaining=42, reset=18` of
   * the tightest limit, as express-rate-limit writes it), `'draft-6'`
   * (`RateLimit-Limit/Remaining/Reset` of the tightest limit) or `false`.
   */
  headers?: HeaderStandard;
  /** Also send `X-RateLimit-*` headers. Default false. */
  legacyHeaders?: boolean;
  /** Refund the lease when the handler fails (throws or answers 5xx). Default true. */
  rollbackOnError?: boolean;
  /** Refund the lease when the client disconnects before the response is complete. Default true. */
  rollbackOnAbort?: boolean;
  /** Receives coded warnings (degraded mode, proxy and setup mistakes). Default `console`. */
  logger?: Logger;
  /**
   * Setup checks that log a warning once (`proxy`, `unknownLimit`,
   * `middlewarePerRequest`): `true` (default), `false`, or one switch per
   * check, e.g. `{ proxy: false }` when a proxy is handled upstream.
   */
  validate?: ValidateOption;
  /**
   * Name entity ids in 429 and 400 bodies: the caller's key and its
   * ancestors' ids, and the full error message. Default false: bodies name
   * limits by scope (`self`, `parent`, `ancestor` with `depth`) and never echo
   * the key, so a client cannot learn its organisation's internal id. Headers
   * never carry entity ids either way. Turn on for internal callers only.
   */
  exposeEntities?: boolean;
  /**
   * Status of a limited response: an integer from 400 to 599. Default 429.
   * `Retry-After` and the rate-limit headers are sent with it either way.
   */
  statusCode?: number;
  /**
   * Body of a limited response instead of the default JSON
   * (`RateLimitExceeded.toBody()`): a string (sent as `text/plain`), a JSON
   * object or array, or a function of the request and the error returning
   * one of those (or a promise of it). An adapter's own `onLimited` wins
   * when given. 400 and 503 keep their coded JSON bodies.
   */
  message?: LimitedMessage<Req>;
  /**
   * Where admitted requests carry their {@link RateLimitState}: `req[name]`
   * (Express, Nest), `ctx.state[name]` (Koa). Default `'rateLimit'`. Must not
   * be a name every object has (`__proto__`, `constructor`, `toString`, ...)
   * or `prototype`.
   */
  requestPropertyName?: string;
  /**
   * Refund requests that succeed (`requestWasSuccessful`; default: status
   * below 400), so only failures count, e.g. failed logins. The charge is
   * still taken on the way in, so concurrent requests are limited; it is
   * refunded when the response ends. Default false.
   */
  skipSuccessfulRequests?: boolean;
  /**
   * Refund requests that fail: `requestWasSuccessful` says no (default:
   * status 400 or more), the handler throws, or the client disconnects
   * before the response is complete. Default false.
   */
  skipFailedRequests?: boolean;
  /**
   * Whether a completed request counts as successful, for
   * `skipSuccessfulRequests` / `skipFailedRequests`; called once the response
   * has finished, with the framework's request and the Node response.
   * Default: `res.statusCode < 400`. If it throws or rejects, the charge is
   * kept and `WARN_TOLLGATE_SUCCESS_CHECK_FAILED` is logged once.
   */
  requestWasSuccessful?: (req: Req, res: ServerResponse) => MaybePromise<boolean>;
}

/**
 * The body of a limited response given by the `message` option: a string,
 * or a JSON object or array (a plain object; class instances are refused).
 */
export type LimitedBody = string | object;

/**
 * The `message` option: a {@link LimitedBody}, or a function of the
 * request and the error that returns one (or a promise of one).
 *
 * @example
 * rateLimit({ limiter, message: (req, error) => ({ error: 'slow_down', retryInSeconds: Math.ceil(error.retryAfterMs / 1000) }) })
 */
export type LimitedMessage<Req> =
  | LimitedBody
  | ((req: Req, error: RateLimitExceeded) => LimitedBody | Promise<LimitedBody>);

/** Every option of {@link HttpRateLimitOptions}; the compile-time check below keeps it complete. */
const HTTP_OPTIONS = [
  'limiter',
  'entity',
  'resource',
  'consume',
  'limits',
  'skip',
  'headers',
  'legacyHeaders',
  'rollbackOnError',
  'rollbackOnAbort',
  'logger',
  'validate',
  'exposeEntities',
  'statusCode',
  'message',
  'requestPropertyName',
  'skipSuccessfulRequests',
  'skipFailedRequests',
  'requestWasSuccessful',
] as const satisfies readonly (keyof HttpRateLimitOptions<unknown>)[];
type UnlistedOption = Exclude<keyof HttpRateLimitOptions<unknown>, (typeof HTTP_OPTIONS)[number]>;
const everyOptionListed: [UnlistedOption] extends [never] ? true : UnlistedOption = true;
void everyOptionListed;

/** What an adapter exposes to handlers: `req.rateLimit`, `ctx.state.rateLimit`, `@RateLimitState()`. */
export interface RateLimitState {
  /** The open lease: `adjust` it with the real cost; it commits when the response finishes. */
  lease: Lease;
  /** Every limit checked, with what is left. */
  statuses: readonly LimitStatus[];
  /** True when the store was unavailable and `onUnavailable: 'allow'` let the request through. */
  degraded: boolean;
}

/**
 * A refused request, typed by its `reason` so the error and body need no cast:
 * `'limited'` (`RateLimitExceeded`; status 429 unless the `statusCode`
 * option says otherwise, body from `message` or the default JSON),
 * `'unavailable'` (503: store unavailable under `onUnavailable: 'block'`;
 * `RateLimiterUnavailable`) or `'invalid'` (400: unusable key or cost,
 * nothing charged; `ValidationError`).
 */
export type HttpRejection =
  | {
      readonly action: 'reject';
      readonly reason: 'limited';
      /** 429, or the `statusCode` option. */
      readonly status: number;
      readonly headers: Record<string, string>;
      /** The default JSON body, or what the `message` option gave (a string is sent as text). */
      readonly body: RateLimitExceededBody | LimitedBody;
      readonly error: RateLimitExceeded;
    }
  | {
      readonly action: 'reject';
      readonly reason: 'unavailable';
      readonly status: 503;
      readonly headers: Record<string, string>;
      readonly body: RateLimiterUnavailableBody;
      readonly error: RateLimiterUnavailable;
    }
  | {
      readonly action: 'reject';
      readonly reason: 'invalid';
      readonly status: 400;
      readonly headers: Record<string, string>;
      readonly body: ValidationErrorBody;
      readonly error: ValidationError;
    };

/** The answer of {@link HttpRateLimit.decide} for one request, ready to translate into a framework response. */
export type HttpDecision =
  | { readonly action: 'skip' }
  | { readonly action: 'proceed'; readonly headers: Record<string, string>; readonly state: RateLimitState }
  | HttpRejection;

/**
 * The answer of {@link HttpRateLimit.admit}, already applied to the Node
 * response: headers are set, and an admitted request's lease settles by
 * itself when the response finishes or the connection closes.
 *
 * - `skip`: not limited; run the handler.
 * - `proceed`: admitted; expose `state` to handlers and run them.
 * - `gone`: the client left while the limiter was deciding; the lease is
 *   being refunded (`settled`); answer nothing and run nothing.
 * - `reject`: send `status` with `body` (or the user's `onLimited` when `reason` is `'limited'`).
 */
export type HttpAdmission =
  | { readonly action: 'skip' }
  | { readonly action: 'proceed'; readonly state: RateLimitState }
  | { readonly action: 'gone'; readonly settled: Promise<void> }
  | HttpRejection;

/** What one framework tells the HTTP layer about its requests. */
export interface HttpFramework<Req> {
  /** The client address after the framework's proxy handling (for the default entity). */
  clientAddress(req: Req): string | undefined;
  /** How the framework trusts proxies; without it the proxy check does not run. */
  proxy?: ProxySetting<Req>;
  /** The adapter's own option names (e.g. `onLimited`), accepted beside the shared ones. */
  options?: readonly string[];
  /** What to use instead of an option this adapter does not take, by name (over the core's explanations). */
  optionHints?: Readonly<Record<string, string>>;
}

/** More flows than this built for one limiter after it served a request means one is built per request. */
const LATE_CONSTRUCTION_WARNING = 100;
const lateConstructions = new WeakMap<RateLimiter, number>();
const servedLimiters = new WeakSet<RateLimiter>();

/** Seconds a 503 asks clients to wait while the store is unavailable. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

const SKIP = Object.freeze({ action: 'skip' as const });
const now = (): number => Date.now();

/** What `skipSuccessfulRequests` / `skipFailedRequests` refund, decided once per flow. */
interface OutcomeSkips<Req> {
  readonly successful: boolean;
  readonly failed: boolean;
  readonly wasSuccessful: ((req: Req, res: ServerResponse) => MaybePromise<boolean>) | undefined;
}

/**
 * The framework-agnostic HTTP flow behind every adapter: map the request to
 * (entity, resource, cost), acquire, and describe the response (status,
 * headers, body); settle the lease when the Node response ends. It owns what
 * every framework shares: the proxy check, the settle-on-finish/close
 * listeners, and "the client left while deciding". Options are validated
 * once, here.
 *
 * @example
 * // A minimal adapter over plain `node:http`.
 * const flow = new HttpRateLimit<IncomingMessage>({ limiter }, { clientAddress: (req) => req.socket.remoteAddress });
 * createServer(async (req, res) => {
 *   const admission = await flow.admit(req, req, res);
 *   if (admission.action === 'reject') return res.writeHead(admission.status).end(JSON.stringify(admission.body));
 *   if (admission.action !== 'gone') res.end('ok');
 * });
 */
export class HttpRateLimit<Req> {
  private readonly limiter: RateLimiter;
  private readonly entityOf: ((req: Req) => MaybePromise<string>) | undefined;
  private readonly clientAddress: (req: Req) => string | undefined;
  private readonly resource: string | ((req: Req) => MaybePromise<string>) | undefined;
  private readonly consume: Consumption | ((req: Req) => MaybePromise<Consumption>) | undefined;
  private readonly skip: ((req: Req) => MaybePromise<boolean>) | undefined;
  private readonly limits: readonly Limit[] | undefined;
  private readonly headers: RateLimitHeaderWriter;
  private readonly rollbackOnError: boolean;
  private readonly rollbackOnAbort: boolean;
  private readonly bodyOptions: ErrorBodyOptions;
  private readonly warnings: HttpWarnings;
  /** Status of a limited response (`statusCode`). */
  private readonly limitedStatus: number;
  /** The `message` option; undefined for the default body (also when the adapter's `onLimited` answers). */
  private readonly message: LimitedMessage<Req> | undefined;
  /** What the skip options refund; undefined when both are off, so settling stays as it was. */
  private readonly skips: OutcomeSkips<Req> | undefined;
  /** Where coded warnings go. */
  readonly logger: Logger;
  /** Where the adapter exposes the state: `req[name]`, `ctx.state[name]` (`requestPropertyName`). */
  readonly requestPropertyName: string;
  /** The proxy setting while the proxy check still has something to say; undefined once settled. */
  private proxy: ProxySetting<Req> | undefined;
  /** Set on the first request, so the per-request path does not touch the shared WeakSet again. */
  private served = false;

  /**
   * @param options the user's options (an adapter's own callback options, such as
   *   `onLimited`, are checked to be functions here too). An unknown option
   *   name is an error, with the Tollgate equivalent of express-rate-limit,
   *   @nestjs/throttler and @fastify/rate-limit names.
   * @param framework how this framework finds the client address and trusts
   *   proxies, and which options of its own it takes; a function is the
   *   client address alone
   */
  constructor(
    options: HttpRateLimitOptions<Req>,
    framework: HttpFramework<Req> | ((req: Req) => string | undefined),
  ) {
    if (typeof options !== 'object' || options === null) {
      throw invalidOption('options', `Expected an options object, got ${describeValue(options)}`);
    }
    const hooks: HttpFramework<Req> =
      typeof framework === 'function' ? { clientAddress: framework } : framework;
    // Names first: an express-rate-limit configuration pasted as is learns what to change, not only that `limiter` is missing.
    new OptionNames(HTTP_OPTIONS, hooks.options, hooks.optionHints).check(options);
    if (!(options.limiter instanceof RateLimiter)) {
      const looksLikeLimiter =
        typeof (options.limiter as { tryAcquire?: unknown } | undefined)?.tryAcquire === 'function';
      if (!looksLikeLimiter) {
        throw invalidOption(
          'limiter',
          `Expected \`limiter\` to be a RateLimiter, got ${describeValue(options.limiter)}`,
        );
      }
    }
    this.limiter = options.limiter;
    this.logger = options.logger ?? console;
    this.warnings = new HttpWarnings(this.logger, validateOption(options.validate));
    this.clientAddress = hooks.clientAddress;
    this.entityOf = optionalFunction(options.entity, 'entity');
    this.resource = stringOrFunction(options.resource, 'resource');
    this.consume = consumptionOrFunction(options.consume, 'consume');
    this.skip = optionalFunction(options.skip, 'skip');
    const onLimited = optionalFunction((options as { onLimited?: unknown }).onLimited, 'onLimited');
    this.limits = options.limits;
    const standard = options.headers ?? 'draft-8';
    if (!HEADER_STANDARDS.includes(standard)) {
      throw invalidOption(
        'headers',
        `Expected \`headers\` to be 'draft-8', 'draft-7', 'draft-6' or false, got ${describeValue(standard)}${(standard as unknown) === true ? '; for X-RateLimit-* headers use `legacyHeaders: true`' : ''}`,
      );
    }
    this.headers = new RateLimitHeaderWriter(
      standard,
      booleanOption(options.legacyHeaders, 'legacyHeaders', false),
    );
    this.rollbackOnError = booleanOption(options.rollbackOnError, 'rollbackOnError', true);
    this.rollbackOnAbort = booleanOption(options.rollbackOnAbort, 'rollbackOnAbort', true);
    this.bodyOptions = { exposeEntities: booleanOption(options.exposeEntities, 'exposeEntities', false) };
    this.limitedStatus = limitedStatusCode(options.statusCode);
    const message = limitedMessage(options.message);
    // The adapter's own answer wins; the message function is then never called.
    this.message = onLimited === undefined ? message : undefined;
    this.requestPropertyName = propertyName(options.requestPropertyName, 'requestPropertyName', 'rateLimit');
    const successful = booleanOption(options.skipSuccessfulRequests, 'skipSuccessfulRequests', false);
    const failed = booleanOption(options.skipFailedRequests, 'skipFailedRequests', false);
    const wasSuccessful = optionalFunction(options.requestWasSuccessful, 'requestWasSuccessful');
    this.skips = successful || failed ? { successful, failed, wasSuccessful } : undefined;
    // Only an address-keyed flow suffers from an untrusted proxy; an `entity` function decides its own key.
    this.proxy = this.entityOf === undefined && this.warnings.isOn('proxy') ? hooks.proxy : undefined;
    this.checkConsumeNames(options.consume);
    this.noteConstruction();
  }

  /**
   * Decides one request and applies the answer to the Node response (which
   * Express `res`, Koa `ctx.res` and Nest's platform response all are or
   * hold): sets the rate-limit headers, and for an admitted request settles
   * the lease when the response finishes (commit; rollback on 5xx) or the
   * connection closes first (rollback). Returns a plain value when nothing
   * had to be awaited. Errors thrown by the user's functions that are not
   * Tollgate errors propagate (synchronously or as a rejection).
   *
   * @param req the framework's request, handed to the user's functions
   * @param incoming the Node request (for the proxy check)
   * @param res the Node response
   * @param entity how to key this request instead of the `entity` option (e.g. a
   *   Nest `getTracker` override); the proxy check is then skipped
   */
  admit(
    req: Req,
    incoming: IncomingMessage,
    res: ServerResponse,
    entity?: (req: Req) => MaybePromise<string>,
  ): HttpAdmission | Promise<HttpAdmission> {
    if (!this.served) this.markServed();
    if (
      this.proxy !== undefined &&
      entity === undefined &&
      checkProxy(this.warnings, this.proxy, req, incoming.headers)
    )
      this.proxy = undefined;
    if (this.skip !== undefined) {
      const skip = this.skip(req);
      if (isThenable(skip)) return this.admitUnlessSkipped(skip, req, res, entity);
      if (skip === true) return SKIP;
    }
    return this.charge(req, res, entity);
  }

  /**
   * Decides one request without touching a response: headers come back as a
   * record. For custom adapters and tests; the framework adapters use
   * {@link admit}. Errors thrown by the user's functions propagate.
   */
  async decide(req: Req): Promise<HttpDecision> {
    if (!this.served) this.markServed();
    if (this.skip && (await this.skip(req))) return SKIP;
    let decision: Decision;
    try {
      decision = await this.limiter.tryAcquire(
        this.requestOf(await this.entityFor(req), await this.resourceOf(req), await this.consumeOf(req)),
      );
    } catch (error) {
      return this.rejectionFor(error, req);
    }
    if (!decision.allowed) return this.limited(decision.error, req);
    return {
      action: 'proceed',
      headers: this.headers.record(decision.statuses, now),
      state: { lease: decision.lease, statuses: decision.statuses, degraded: decision.degraded },
    };
  }

  /**
   * Commits or rolls back the lease from how the request ended: rollback when
   * the handler threw or answered 5xx (`rollbackOnError`) or the client went
   * away first (`rollbackOnAbort`); with `skipSuccessfulRequests` /
   * `skipFailedRequests`, also when the request counts as skipped; commit
   * otherwise. Never throws: a store failure here is logged, since the
   * response is already gone. A lease already settled (or being settled), by
   * the handler for instance, is left alone.
   *
   * @param req the framework's request, for `requestWasSuccessful`
   * @param res the Node response, for `requestWasSuccessful` (without both,
   *   success is `outcome.statusCode < 400`)
   */
  finish(state: RateLimitState, outcome: RequestOutcome, req?: Req, res?: ServerResponse): Promise<void> {
    const thrown = outcome.error !== undefined;
    const aborted = outcome.aborted === true;
    if (
      ((thrown || outcome.statusCode >= 500) && this.rollbackOnError) ||
      (aborted && this.rollbackOnAbort)
    ) {
      return this.settleLease(state.lease, true);
    }
    const { skips } = this;
    if (skips === undefined) return this.settleLease(state.lease, false);
    // A request that threw or was abandoned never succeeded; no need to ask.
    if (thrown || aborted) return this.settleLease(state.lease, skips.failed);
    // Settled by the handler: leave it, and spare the user's check.
    if (state.lease.isClosed) return RESOLVED;
    let success: MaybePromise<boolean>;
    try {
      success =
        skips.wasSuccessful !== undefined && req !== undefined && res !== undefined
          ? skips.wasSuccessful(req, res)
          : outcome.statusCode < 400;
    } catch (error) {
      return this.successCheckFailed(state.lease, error);
    }
    if (isThenable(success)) {
      return Promise.resolve(success).then(
        (resolved) => this.settleLease(state.lease, skipped(skips, resolved)),
        (error: unknown) => this.successCheckFailed(state.lease, error),
      );
    }
    return this.settleLease(state.lease, skipped(skips, success));
  }

  /**
   * Settles the leases that `res` carries from {@link admit} now, instead of
   * when the response ends: for frameworks that learn of a handler's failure
   * before the response does (Koa's thrown errors). Later `finish`/`close`
   * events then do nothing; a response with no open lease is ignored.
   */
  settle(res: ServerResponse, outcome: RequestOutcome): Promise<void> {
    return settleWatched(res, outcome);
  }

  /** Logs a coded warning once per logger and code (once per process with the default `console`). */
  warnOnce(code: string, message: string): void {
    warnOnce(this.logger, code, message);
  }

  private markServed(): void {
    this.served = true;
    servedLimiters.add(this.limiter);
  }

  private async admitUnlessSkipped(
    skip: PromiseLike<boolean>,
    req: Req,
    res: ServerResponse,
    entity: ((req: Req) => MaybePromise<string>) | undefined,
  ): Promise<HttpAdmission> {
    return (await skip) ? SKIP : this.charge(req, res, entity);
  }

  /** Maps the request and acquires, awaiting only what is a promise. */
  private charge(
    req: Req,
    res: ServerResponse,
    given: ((req: Req) => MaybePromise<string>) | undefined,
  ): HttpAdmission | Promise<HttpAdmission> {
    let decision: MaybePromise<Decision>;
    try {
      const entity = given === undefined ? this.entityFor(req) : given(req);
      const resource = this.resourceOf(req);
      const consume = this.consumeOf(req);
      if (isThenable(entity) || isThenable(resource) || isThenable(consume)) {
        return this.chargeLater(req, entity, resource, consume, res);
      }
      const request = this.requestOf(entity, resource, consume);
      // A RateLimiter answers an in-process decision synchronously; an object that only looks like one awaits.
      decision =
        typeof this.limiter.decideNow === 'function'
          ? this.limiter.decideNow(request)
          : this.limiter.tryAcquire(request);
    } catch (error) {
      return this.appliedRejectionFor(error, req, res);
    }
    return isThenable(decision) ? this.answerLater(req, decision, res) : this.answer(req, decision, res);
  }

  private async chargeLater(
    req: Req,
    entity: MaybePromise<string>,
    resource: MaybePromise<string | undefined>,
    consume: MaybePromise<Consumption | undefined>,
    res: ServerResponse,
  ): Promise<HttpAdmission> {
    let decision: Decision;
    try {
      decision = await this.limiter.tryAcquire(this.requestOf(await entity, await resource, await consume));
    } catch (error) {
      return this.appliedRejectionFor(error, req, res);
    }
    return this.answer(req, decision, res);
  }

  private async answerLater(
    req: Req,
    pending: PromiseLike<Decision>,
    res: ServerResponse,
  ): Promise<HttpAdmission> {
    let decision: Decision;
    try {
      decision = await pending;
    } catch (error) {
      return this.appliedRejectionFor(error, req, res);
    }
    return this.answer(req, decision, res);
  }

  private answer(req: Req, decision: Decision, res: ServerResponse): HttpAdmission | Promise<HttpAdmission> {
    if (!decision.allowed) return this.applied(this.limited(decision.error, req), res);
    this.headers.write(res, decision.statuses, now);
    const state: RateLimitState = {
      lease: decision.lease,
      statuses: decision.statuses,
      degraded: decision.degraded,
    };
    if (res.closed) {
      // The client left while the limiter was deciding: nobody to answer, nothing to run.
      return { action: 'gone', settled: this.finish(state, { statusCode: res.statusCode, aborted: true }) };
    }
    watchResponse(res, (outcome, ended) => this.finish(state, outcome, req, ended));
    return { action: 'proceed', state };
  }

  /** The key a request is charged to: the `entity` option, else `ipKey(client address)`. */
  entityFor(req: Req): MaybePromise<string> {
    return this.entityOf === undefined ? ipKey(this.clientAddress(req)) : this.entityOf(req);
  }

  private resourceOf(req: Req): MaybePromise<string | undefined> {
    return typeof this.resource === 'function' ? this.resource(req) : this.resource;
  }

  private consumeOf(req: Req): MaybePromise<Consumption | undefined> {
    return typeof this.consume === 'function' ? this.consume(req) : this.consume;
  }

  private requestOf(
    entity: string,
    resource: string | undefined,
    consume: Consumption | undefined,
  ): AcquireRequest {
    const request: AcquireRequest = { entity };
    if (resource !== undefined) request.resource = resource;
    if (consume !== undefined) request.consume = consume;
    if (this.limits !== undefined) request.limits = this.limits;
    return request;
  }

  private settleLease(lease: Lease, refund: boolean): Promise<void> {
    if (lease.isClosed) return RESOLVED;
    const settling = refund ? lease.rollback() : lease.commit();
    // A commit with nothing to write is already settled: no handler to chain.
    if (settledWithoutWrite(settling)) return settling;
    return settling.then(undefined, (error: unknown) =>
      this.logger.warn(
        `WARN_TOLLGATE_SETTLE_FAILED: could not ${refund ? 'refund' : 'commit'} the lease of \`${lease.entity}\`: ${error instanceof Error ? error.message : String(error)}`,
        { code: 'WARN_TOLLGATE_SETTLE_FAILED', entity: lease.entity, resource: lease.resource },
      ),
    );
  }

  /** Keeps the charge when `requestWasSuccessful` fails: counting is the safe side of a broken check. */
  private successCheckFailed(lease: Lease, error: unknown): Promise<void> {
    this.warnOnce(
      'WARN_TOLLGATE_SUCCESS_CHECK_FAILED',
      `\`requestWasSuccessful\` threw, so the request was counted (its charge kept): ${error instanceof Error ? error.message : String(error)}`,
    );
    return this.settleLease(lease, false);
  }

  /**
   * The limited response, built here for every adapter: status (429 or
   * `statusCode`), rate-limit headers, `Retry-After`, and the body (`message`,
   * else the default JSON). A promise only when a `message` function returns one.
   */
  private limited(error: RateLimitExceeded, req: Req): HttpRejection | Promise<HttpRejection> {
    const headers = this.headers.record(error.statuses, now);
    headers['Retry-After'] = String(retryAfterSeconds(error.retryAfterMs));
    const { message } = this;
    if (typeof message !== 'function') {
      const body = message ?? rateLimitExceededBody(error, this.bodyOptions);
      return { action: 'reject', reason: 'limited', status: this.limitedStatus, headers, body, error };
    }
    // A throwing message function propagates like any other user function: the framework answers 500.
    const produced = message(req, error);
    const limitedWith = (body: LimitedBody): HttpRejection => ({
      action: 'reject',
      reason: 'limited',
      status: this.limitedStatus,
      headers,
      body: limitedBody(body),
      error,
    });
    return isThenable(produced) ? Promise.resolve(produced).then(limitedWith) : limitedWith(produced);
  }

  /** The rejection for an error of the mapping or the limiter; any other error is rethrown. */
  private rejectionFor(error: unknown, req: Req): HttpRejection | Promise<HttpRejection> {
    if (isRateLimitExceeded(error)) return this.limited(error, req);
    if (isRateLimiterUnavailable(error)) {
      return {
        action: 'reject',
        reason: 'unavailable',
        status: 503,
        headers: { 'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SECONDS) },
        body: rateLimiterUnavailableBody(error),
        error,
      };
    }
    if (isTollgateError(error) && error instanceof ValidationError) {
      return {
        action: 'reject',
        reason: 'invalid',
        status: 400,
        headers: {},
        body: error.toBody(this.bodyOptions),
        error,
      };
    }
    throw error;
  }

  /** {@link rejectionFor}, with its headers set on the response. */
  private appliedRejectionFor(
    error: unknown,
    req: Req,
    res: ServerResponse,
  ): HttpRejection | Promise<HttpRejection> {
    return this.applied(this.rejectionFor(error, req), res);
  }

  /** Sets a rejection's headers on the response, so they reach the client whoever sends the body. */
  private applied(
    rejection: HttpRejection | Promise<HttpRejection>,
    res: ServerResponse,
  ): HttpRejection | Promise<HttpRejection> {
    if (rejection instanceof Promise) return rejection.then((resolved) => this.applied(resolved, res));
    for (const name in rejection.headers) res.setHeader(name, rejection.headers[name]!);
    return rejection;
  }

  /**
   * Warns (`WARN_TOLLGATE_MIDDLEWARE_PER_REQUEST`) when middleware keeps being
   * built for a limiter that already serves requests: the koa-ratelimit mistake
   * of building it inside a handler. Routes built at startup do not count.
   */
  private noteConstruction(): void {
    if (!servedLimiters.has(this.limiter)) return;
    const count = (lateConstructions.get(this.limiter) ?? 0) + 1;
    lateConstructions.set(this.limiter, count);
    if (count > LATE_CONSTRUCTION_WARNING) {
      this.warnings.warn(
        'middlewarePerRequest',
        `rate-limit middleware was built ${count} times for one limiter after it started serving requests; build it once at startup (not inside a request handler) and reuse it`,
      );
    }
  }

  /** Warns at startup when a static `consume` names a limit that no default limit has. */
  private checkConsumeNames(consume: HttpRateLimitOptions<Req>['consume']): void {
    if (typeof consume !== 'object' || consume === null || !this.warnings.isOn('unknownLimit')) return;
    const known = new Set((this.limits ?? this.limiter.defaultLimits).map((limit) => limit.name));
    if (known.size === 0) return;
    const unknown = Object.keys(consume).filter((name) => !known.has(name));
    if (unknown.length > 0) {
      this.logger.warn(
        `WARN_TOLLGATE_UNKNOWN_LIMIT: \`consume\` names ${unknown.map((n) => `\`${n}\``).join(', ')}, which no default limit has (${[...known].join(', ')}); requests will get 400 unless stored limits define it`,
        { code: 'WARN_TOLLGATE_UNKNOWN_LIMIT', names: unknown },
      );
    }
  }
}

/** True when a completed request counts as skipped, so its charge is refunded. Truthiness, as express-rate-limit reads it. */
function skipped(skips: Pick<OutcomeSkips<never>, 'successful' | 'failed'>, success: unknown): boolean {
  return success ? skips.successful : skips.failed;
}
