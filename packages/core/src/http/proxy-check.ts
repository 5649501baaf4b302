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

/** Code of the warning from {@link proxyMisconfiguration}. */
export const PROXY_WARNING_CODE = 'WARN_TOLLGATE_PROXY';
