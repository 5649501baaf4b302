import { ConfigurableModuleBuilder, Module } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { RATE_LIMIT_OPTIONS, type RateLimitModuleExtras, type RateLimitModuleOptions } from './options.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { RateLimitRoutes } from './rate-limit-routes.js';

const { ConfigurableModuleClass, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<RateLimitModuleOptions>({ optionsInjectionToken: RATE_LIMIT_OPTIONS })
    .setClassMethodName('forRoot')
    .setExtras<RateLimitModuleExtras>({ global: false }, (definition, extras) => ({
      ...definition,
      // Always a global Nest module, so `@UseGuards(RateLimitGuard)` resolves in every module.
      global: true,
      providers: [
        ...(definition.providers ?? []),
        ...(extras.global ? [{ provide: APP_GUARD, useClass: RateLimitGuard }] : []),
      ],
      exports: [RATE_LIMIT_OPTIONS, RateLimitRoutes, RateLimitGuard],
    }))
    .build();

/** Argument of {@link RateLimitModule.forRoot}: the module options plus `global`. */
export type RateLimitModuleForRootOptions = typeof OPTIONS_TYPE;
/** Argument of {@link RateLimitModule.forRootAsync}: `useFactory`/`inject`/`imports` (or `useClass`/`useExisting`) plus `global`. */
export type RateLimitModuleAsyncOptions = typeof ASYNC_OPTIONS_TYPE;

/**
 * Tollgate for Nest. Import once, in the root module:
 *
 * @example
 * @Module({
 *   imports: [RateLimitModule.forRoot({ limiter, entity: (req) => apiKeyOf(req), global: true })],
 * })
 * export class AppModule {}
 *
 * @example
 * RateLimitModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ limiter: buildLimiter(config) }),
 *   global: true,
 * })
 *
 * With `global: true` every route is limited (`@SkipRateLimit()` exempts one);
 * otherwise add `@UseGuards(RateLimitGuard)` where limits apply.
 */
@Module({ imports: [DiscoveryModule], providers: [RateLimitRoutes, RateLimitGuard] })
export class RateLimitModule extends ConfigurableModuleClass {}
