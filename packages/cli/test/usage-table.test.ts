import { describe, expect, it } from 'vitest';
import { usageTable } from '../src/commands/usage.js';

describe('usage table', () => {
  it('prints one row per window and resource, a column per limit, and totals', () => {
    const text = usageTable(
      [
        {
          entity: 'k',
          resource: 'chat',
          window: 'hour',
          start: Date.UTC(2026, 0, 1, 10),
          consumed: { rpm: 3, tpm: 100 },
        },
        {
          entity: 'k',
          resource: 'embed',
          window: 'hour',
          start: Date.UTC(2026, 0, 1, 11),
          consumed: { rpm: 2 },
        },
      ],
      'k',
    );
    expect(text).toMatch(/window start \(UTC\)\s*│\s*resource\s*│\s*rpm\s*│\s*tpm/);
    expect(text).toMatch(/2026-01-01T10:00:00Z\s*│\s*chat\s*│\s*3\s*│\s*100/);
    expect(text).toMatch(/2026-01-01T11:00:00Z\s*│\s*embed\s*│\s*2\s*│\s*0/);
    expect(text).toMatch(/total\s*│\s*│\s*5\s*│\s*100/);
  });

  it('says so when there is no usage', () => {
    expect(usageTable([], 'k')).toBe('No usage recorded for k in this range');
  });
});
