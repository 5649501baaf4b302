import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../types.js';

/**
 * The setup checks of the HTTP layer, each with the code it logs. A check
 * warns once per logger, never per request: a setup mistake needs saying
 * once. Users silence one with `validate: { proxy: false }`, or all with
 * `validate: false`.
 */
export const HTTP_WARNINGS = {
  /** `X-Forwarded-For` arrives but the framework does not trust proxies, and clients are keyed by address. */
  proxy: 'WARN_TOLLGATE_PROXY',
  /** A static `consume` names a limit that no default limit has. */
  unknownLimit: 'WARN_TOLLGATE_UNKNOWN_LIMIT',
  /** Middleware keeps being built for a limiter that already serves requests. */
  middlewarePerRequest: 'WARN_TOLLGATE_MIDDLEWARE_PER_REQUEST',
} as const;

/** Name of one setup check, the key of `validate`. */
export type HttpWarning = keyof typeof HTTP_WARNINGS;

/**
 * Which setup checks run: `true` (default) all, `false` none, or a switch per
 * check (those not named stay on).
 *
 * @example
 * rateLimit({ limiter, validate: { proxy: false } })  // the proxy is handled upstream
 */
export type ValidateOption = boolean | { readonly [Check in HttpWarning]?: boolean };

/** Code of the warning from {@link proxyMisconfiguration}. */
export const PROXY_WARNING_CODE = HTTP_WARNINGS.proxy;

const warned = new WeakMap<Logger, Set<string>>();

/**
 * Logs a coded warning once per logger and code (setup mistakes need saying
 * once, not per request). With the default `console` logger that is once per
 * process; two apps with their own loggers each hear about their own mistake.
 */
export function warnOnce(
  logger: Logger,
  code: string,
  message: string,
  details?: Record<string, unknown>,
): void {
  let codes = warned.get(logger);
  if (codes === undefined) {
    codes = new Set();
    warned.set(logger, codes);
  }
  if (codes.has(code)) return;
  codes.add(code);
  logger.warn(`${code}: ${message}`, { code, ...details });
}

/**
 * The setup checks of one middleware: which are on, and where they report.
 * Each check is decided once per middleware, so the request path pays one
 * boolean test for it.
 */
export class HttpWarnings {
  /** The checks that are on. */
  private readonly enabled: ReadonlySet<HttpWarning>;

  /**
   * @param logger where warnings go
   * @param validate the user's `validate` option (validated by the caller)
   */
  constructor(
    readonly logger: Logger,
    validate: ValidateOption = true,
  ) {
    const names = Object.keys(HTTP_WARNINGS) as HttpWarning[];
    this.enabled = new Set(
      validate === true ? names : validate === false ? [] : names.filter((name) => validate[name] !== false),
    );
  }

  /** True when the check `name` is on. */
  isOn(name: HttpWarning): boolean {
    return this.enabled.has(name);
  }

  /** Logs the warning of check `name` once per logger, unless the check is off. */
  warn(name: HttpWarning, message: string, details?: Record<string, unknown>): void {
    if (this.enabled.has(name)) warnOnce(this.logger, HTTP_WARNINGS[name], message, details);
  }
}

/**
 * How a framework tells whether it trusts proxies: the setting's name for the
 * message, and a test of the request. Adapters hand one to `HttpRateLimit`.
 */
export interface ProxySetting<Req> {
  /** The setting as users know it, e.g. "Express's `trust proxy`" (a function when it depends on the request's platform). */
  readonly name: string | ((req: Req) => string);
  /** True when the framework derives the client address from `X-Forwarded-For`. */
  trusts(req: Req): boolean;
}

/**
 * The classic proxy mistake: the request carries `X-Forwarded-For` but the
 * framework does not trust proxies, so every client appears as the proxy's
 * address and shares one bucket. Returns the warning text, or undefined.
 */
export function proxyMisconfiguration(
  forwardedFor: unknown,
  trustsProxy: boolean,
  setting: string,
): string | undefined {
  if (trustsProxy || forwardedFor === undefined || forwardedFor === '') return undefined;
  return `the request has an X-Forwarded-For header but ${setting} is off, so every client behind the proxy shares one rate-limit key; enable it (or pass an \`entity\` function)`;
}

/**
 * Runs the proxy check on one request. Returns true once the answer is
 * settled for good (a warning was due, or the framework trusts proxies), so
 * the caller can stop checking.
 */
export function checkProxy<Req>(
  warnings: HttpWarnings,
  setting: ProxySetting<Req>,
  req: Req,
  headers: IncomingHttpHeaders,
): boolean {
  const forwardedFor = headers['x-forwarded-for'];
  if (forwardedFor === undefined || forwardedFor === '') return false;
  const trusted = setting.trusts(req);
  const name = typeof setting.name === 'string' ? setting.name : setting.name(req);
  const problem = proxyMisconfiguration(forwardedFor, trusted, name);
  if (problem !== undefined) warnings.warn('proxy', problem);
  return true;
}
