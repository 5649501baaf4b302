import { EntityError, RateLimiterUnavailable, ValidationError } from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { CliError, EXIT, exitCodeFor } from '../src/exit-codes.js';

describe('exit codes', () => {
  it('map each kind of failure to its documented code', () => {
    expect(exitCodeFor(new ValidationError('ERR_TOLLGATE_INVALID_LIMIT', 'bad'))).toBe(EXIT.usage);
    expect(exitCodeFor(new EntityError('ERR_TOLLGATE_ENTITY_NOT_FOUND', 'x', 'no'))).toBe(EXIT.notFound);
    expect(exitCodeFor(new EntityError('ERR_TOLLGATE_ENTITY_EXISTS', 'x', 'taken'))).toBe(EXIT.conflict);
    expect(exitCodeFor(new EntityError('ERR_TOLLGATE_ENTITY_HAS_CHILDREN', 'x', 'kids'))).toBe(EXIT.conflict);
    expect(exitCodeFor(new EntityError('ERR_TOLLGATE_ENTITY_CYCLE', 'x', 'loop'))).toBe(EXIT.conflict);
    expect(exitCodeFor(new EntityError('ERR_TOLLGATE_ENTITY_TOO_DEEP', 'x', 'deep'))).toBe(EXIT.conflict);
    expect(exitCodeFor(new RateLimiterUnavailable('down'))).toBe(EXIT.unavailable);
    expect(exitCodeFor(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(EXIT.unavailable);
    expect(exitCodeFor(new CliError(EXIT.deployFailed, 'X', 'rolled back'))).toBe(EXIT.deployFailed);
    expect(exitCodeFor(new Error('bug'))).toBe(EXIT.failure);
  });

  it('are distinct', () => {
    expect(new Set(Object.values(EXIT)).size).toBe(Object.values(EXIT).length);
  });
});
