import { describe, expect, it } from 'vitest';
import { DEFAULT_PROFILE, defaultUnits, estimateCapacity } from '../src/capacity/estimate.js';
import { DEFAULT_PRICES } from '../src/capacity/prices.js';
import { runInProcess } from './run-in-process.js';

const quiet = { ...DEFAULT_PROFILE, aggregator: false, configMissShare: 0 };

describe('capacity arithmetic (hand-computed examples)', () => {
  it('100 plain admitted acquires per second: 100 WCU/s, 262.8 M WRU a month, $164.25 on-demand, 143 WCU provisioned', () => {
    const estimate = estimateCapacity({ ...quiet, requestsPerSecond: 100 });
    expect(estimate.wcu).toEqual({ perSecond: 100, perHour: 360_000, perMonth: 262_800_000 });
    expect(estimate.rcu.perSecond).toBe(0);
    // 262.8 M × $0.625 / M
    expect(estimate.onDemand.monthlyUsd).toBeCloseTo(164.25, 10);
    // ⌈100 / 0.7⌉ = 143 WCU × 730 h × $0.00065, plus the minimum 1 RCU × 730 h × $0.00013
    expect(estimate.provisioned).toMatchObject({ wcu: 143, rcu: 1 });
    expect(estimate.provisioned.writeUsd).toBeCloseTo(67.8535, 10);
    expect(estimate.provisioned.readUsd).toBeCloseTo(0.0949, 10);
    expect(estimate.cheaper).toBe('provisioned');
  });

  it('adds cascades (2 WCU per item), rejections past the deny cache, adjustments, config reads and snapshots', () => {
    // R = 1000/s, 10% rejected of which half hit the deny cache → A = 900/s admitted.
    // 20% of admitted cascade over 2 items; 50% of admitted adjust; 1% config misses at 2.5 RCU.
    const estimate = estimateCapacity({
      ...DEFAULT_PROFILE,
      requestsPerSecond: 1000,
      rejectedShare: 0.1,
      denyCacheShare: 0.5,
      cascadeShare: 0.2,
      cascadeDepth: 2,
      adjustShare: 0.5,
      configMissShare: 0.01,
      aggregator: true,
      snapshotWritesPerRecord: 2,
    });
    expect(estimate.writesPerSecond.acquire).toBeCloseTo(720, 10); // 900 × 0.8 × 1
    expect(estimate.writesPerSecond.cascade).toBeCloseTo(720, 10); // 900 × 0.2 × 2 items × 2 WCU
    expect(estimate.writesPerSecond.reject).toBeCloseTo(50, 10); // 1000 × 0.1 × 0.5 × 1
    expect(estimate.writesPerSecond.adjust).toBeCloseTo(450, 10); // 900 × 0.5 × 1
    // stream records: 720 single + 180 × 2 cascade items + 450 adjustments = 1530; × 2 snapshot writes
    expect(estimate.writesPerSecond.snapshots).toBeCloseTo(3060, 10);
    expect(estimate.wcu.perSecond).toBeCloseTo(5000, 10);
    expect(estimate.rcu.perSecond).toBeCloseTo(25, 10); // 1000 × 0.01 × 2.5
    // on-demand: 5000 × 3600 × 730 = 13 140 M WRU × 0.625 = 8212.50; 25 × 2 628 000 = 65.7 M RRU × 0.125 = 8.2125
    expect(estimate.onDemand.writeUsd).toBeCloseTo(8212.5, 6);
    expect(estimate.onDemand.readUsd).toBeCloseTo(8.2125, 6);
    // provisioned: ⌈5000/0.7⌉ = 7143 WCU, ⌈25/0.7⌉ = 36 RCU
    expect(estimate.provisioned.wcu).toBe(7143);
    expect(estimate.provisioned.rcu).toBe(36);
    expect(estimate.provisioned.monthlyUsd).toBeCloseTo(7143 * 730 * 0.00065 + 36 * 730 * 0.00013, 6);
  });

  it('provisions for the peak: peak factor 3 at 60% target turns 10 WCU/s into 50 WCU', () => {
    const estimate = estimateCapacity(
      { ...quiet, requestsPerSecond: 10 },
      defaultUnits(2),
      { ...DEFAULT_PRICES },
      {
        targetUtilization: 0.6,
        peakFactor: 3,
      },
    );
    expect(estimate.provisioned.wcu).toBe(50);
  });

  it('uses a larger write unit once the bucket item passes 1 KB', () => {
    expect(defaultUnits(2).acquireWcu).toBe(1);
    expect(defaultUnits(40)).toMatchObject({ acquireWcu: 2, cascadeWcuPerItem: 4 });
  });

  it('takes prices and measured units from the command line and prints JSON', async () => {
    const { code, stdout } = await runInProcess([
      'capacity',
      '--rps',
      '100',
      '--no-aggregator',
      '--config-miss-share',
      '0',
      '--wcu-acquire',
      '2',
      '--price-write',
      '1.25',
      '--json',
    ]);
    expect(code).toBe(0);
    const estimate = JSON.parse(stdout);
    expect(estimate.wcu.perSecond).toBe(200);
    expect(estimate.onDemand.writeUsd).toBeCloseTo(657, 6); // 525.6 M × 1.25
  });

  it('accepts shares as percentages and rejects shares above 100%', async () => {
    const ok = await runInProcess(['capacity', '--rps', '10', '--rejected-share', '50%', '--json']);
    expect(JSON.parse(ok.stdout).profile.rejectedShare).toBe(0.5);
    const bad = await runInProcess(['capacity', '--rps', '10', '--rejected-share', '150%']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--rejected-share');
  });
});
