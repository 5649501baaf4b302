import { describeValue, ValidationError } from '@tollgate/core';
import { DEFAULT_PRICES, type Prices } from './prices.js';

/** Hours in a month, as AWS bills them. */
export const HOURS_PER_MONTH = 730;

/** The traffic to plan for. Shares are fractions from 0 to 1. */
export interface TrafficProfile {
  /** Average decisions (acquire calls) per second. */
  requestsPerSecond: number;
  /** Limits per request (e.g. rpm and tpm: 2); sets the bucket item size when units are not given. */
  limitsPerRequest: number;
  /** Share of admitted requests whose entity cascades to ancestors. */
  cascadeShare: number;
  /** Bucket items written by one cascading acquire (entity + ancestors). */
  cascadeDepth: number;
  /** Share of requests rejected. */
  rejectedShare: number;
  /** Share of rejections answered by the limiter's deny cache without a write. */
  denyCacheShare: number;
  /** Share of admitted requests that adjust (or roll back) their lease, written once at commit. */
  adjustShare: number;
  /** Share of requests that miss the limiter's config cache and read stored limits and entities. */
  configMissShare: number;
  /** Include the usage aggregator's snapshot writes. */
  aggregator: boolean;
  /** Snapshot writes per bucket stream record: 2 (hour and day) at most; batching of busy keys lowers it. */
  snapshotWritesPerRecord: number;
}

/** Capacity units of one call. Defaults: what the store measures on items of the default size. */
export interface UnitsPerCall {
  /** WCU of an admitted single-bucket acquire (one conditional UpdateItem). */
  acquireWcu: number;
  /** WCU of a cascading acquire per bucket item (TransactWriteItems: 2 per item of up to 1 KB). */
  cascadeWcuPerItem: number;
  /** WCU of a rejected acquire that reaches DynamoDB (a failed conditional write is charged). */
  rejectWcu: number;
  /** WCU of one adjustment written at commit. */
  adjustWcu: number;
  /** RCU of one config load (BatchGetItem of the entity and up to four limit sets, eventually consistent). */
  configRcu: number;
  /** WCU of one usage snapshot write. */
  snapshotWcu: number;
}

/** Options for the provisioned-mode figure. */
export interface ProvisioningPolicy {
  /** Auto scaling target utilization (0–1): provisioned = needed ÷ target. */
  targetUtilization: number;
  /** Peak-to-average ratio the provisioned capacity must absorb. */
  peakFactor: number;
}

/** Units of one kind at three time scales. */
export interface UnitRates {
  perSecond: number;
  perHour: number;
  perMonth: number;
}

/** The result of {@link estimateCapacity}. */
export interface CapacityEstimate {
  profile: TrafficProfile;
  units: UnitsPerCall;
  prices: Prices;
  policy: ProvisioningPolicy;
  /** Write units by source, per second. */
  writesPerSecond: { acquire: number; cascade: number; reject: number; adjust: number; snapshots: number };
  wcu: UnitRates;
  rcu: UnitRates;
  onDemand: { writeUsd: number; readUsd: number; monthlyUsd: number };
  provisioned: { wcu: number; rcu: number; writeUsd: number; readUsd: number; monthlyUsd: number };
  cheaper: 'on-demand' | 'provisioned';
}

/** Approximate size of a bucket item: keys and names, plus tat (≈19 digits) and a counter per limit. */
export function bucketItemBytes(limits: number): number {
  return 120 + 45 * limits;
}

/** Default per-call units for items with `limits` limits (1 KB per write unit, 4 KB per read unit). */
export function defaultUnits(limits: number): UnitsPerCall {
  const writeUnits = Math.ceil(bucketItemBytes(limits) / 1024);
  return {
    acquireWcu: writeUnits,
    cascadeWcuPerItem: 2 * writeUnits,
    rejectWcu: writeUnits,
    adjustWcu: writeUnits,
    configRcu: 2.5,
    snapshotWcu: 1,
  };
}

/** Defaults of the traffic profile (everything but the request rate). */
export const DEFAULT_PROFILE: Omit<TrafficProfile, 'requestsPerSecond'> = Object.freeze({
  limitsPerRequest: 2,
  cascadeShare: 0,
  cascadeDepth: 2,
  rejectedShare: 0,
  denyCacheShare: 0,
  adjustShare: 0,
  configMissShare: 0.01,
  aggregator: true,
  snapshotWritesPerRecord: 2,
});

/** Defaults of the provisioned-mode figure. */
export const DEFAULT_POLICY: ProvisioningPolicy = Object.freeze({ targetUtilization: 0.7, peakFactor: 1 });

/**
 * Estimates capacity and monthly cost. Per second, with R requests, A = R·(1−rejected) admitted:
 *
 * - acquire WCU  = A·(1−cascade)·acquireWcu
 * - cascade WCU  = A·cascade·depth·cascadeWcuPerItem
 * - reject WCU   = R·rejected·(1−denyCache)·rejectWcu
 * - adjust WCU   = A·adjust·adjustWcu
 * - snapshot WCU = (A·(1−cascade) + A·cascade·depth + A·adjust)·snapshotWritesPerRecord·snapshotWcu (stream records × writes)
 * - RCU          = R·configMiss·configRcu
 *
 * On-demand bills units: monthly units ÷ 10⁶ × price per million. Provisioned
 * bills capacity: ⌈units/s × peak ÷ target⌉ (at least 1) × 730 h × price per unit-hour.
 */
export function estimateCapacity(
  profile: TrafficProfile,
  units: UnitsPerCall = defaultUnits(profile.limitsPerRequest),
  prices: Prices = { ...DEFAULT_PRICES },
  policy: ProvisioningPolicy = DEFAULT_POLICY,
): CapacityEstimate {
  validate(profile, policy);
  const requests = profile.requestsPerSecond;
  const admitted = requests * (1 - profile.rejectedShare);
  const single = admitted * (1 - profile.cascadeShare);
  const cascading = admitted * profile.cascadeShare;
  const adjusting = admitted * profile.adjustShare;
  const streamRecords = single + cascading * profile.cascadeDepth + adjusting;
  const writesPerSecond = {
    acquire: single * units.acquireWcu,
    cascade: cascading * profile.cascadeDepth * units.cascadeWcuPerItem,
    reject: requests * profile.rejectedShare * (1 - profile.denyCacheShare) * units.rejectWcu,
    adjust: adjusting * units.adjustWcu,
    snapshots: profile.aggregator ? streamRecords * profile.snapshotWritesPerRecord * units.snapshotWcu : 0,
  };
  const wcuPerSecond = Object.values(writesPerSecond).reduce((sum, value) => sum + value, 0);
  const rcuPerSecond = requests * profile.configMissShare * units.configRcu;
  const wcu = rates(wcuPerSecond);
  const rcu = rates(rcuPerSecond);

  const onDemandWrite = (wcu.perMonth / 1e6) * prices.onDemandWritePerMillion;
  const onDemandRead = (rcu.perMonth / 1e6) * prices.onDemandReadPerMillion;
  const provisionedWcu = provision(wcuPerSecond, policy);
  const provisionedRcu = provision(rcuPerSecond, policy);
  const provisionedWrite = provisionedWcu * HOURS_PER_MONTH * prices.provisionedWcuHour;
  const provisionedRead = provisionedRcu * HOURS_PER_MONTH * prices.provisionedRcuHour;
  const onDemandTotal = onDemandWrite + onDemandRead;
  const provisionedTotal = provisionedWrite + provisionedRead;
  return {
    profile,
    units,
    prices,
    policy,
    writesPerSecond,
    wcu,
    rcu,
    onDemand: { writeUsd: onDemandWrite, readUsd: onDemandRead, monthlyUsd: onDemandTotal },
    provisioned: {
      wcu: provisionedWcu,
      rcu: provisionedRcu,
      writeUsd: provisionedWrite,
      readUsd: provisionedRead,
      monthlyUsd: provisionedTotal,
    },
    cheaper: provisionedTotal < onDemandTotal ? 'provisioned' : 'on-demand',
  };
}

function rates(perSecond: number): UnitRates {
  return { perSecond, perHour: perSecond * 3600, perMonth: perSecond * 3600 * HOURS_PER_MONTH };
}

function provision(perSecond: number, policy: ProvisioningPolicy): number {
  // Rounded to 1e-9 first so that e.g. 70 / 0.7 stays 100, not 100.00000000000001.
  const needed = Math.round(((perSecond * policy.peakFactor) / policy.targetUtilization) * 1e9) / 1e9;
  return Math.max(1, Math.ceil(needed));
}

function validate(profile: TrafficProfile, policy: ProvisioningPolicy): void {
  const shares: (keyof TrafficProfile)[] = [
    'cascadeShare',
    'rejectedShare',
    'denyCacheShare',
    'adjustShare',
    'configMissShare',
  ];
  for (const field of shares) check(field, profile[field] as number, 0, 1);
  check('requestsPerSecond', profile.requestsPerSecond, 0, Number.MAX_SAFE_INTEGER);
  check('limitsPerRequest', profile.limitsPerRequest, 1, 1000);
  check('cascadeDepth', profile.cascadeDepth, 1, 100);
  check('snapshotWritesPerRecord', profile.snapshotWritesPerRecord, 0, 2);
  check('targetUtilization', policy.targetUtilization, 0.2, 0.9);
  check('peakFactor', policy.peakFactor, 1, 1000);
}

function check(field: string, value: number, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected \`${field}\` to be a number from ${min} to ${max}, got ${describeValue(value)}`,
      field,
    );
  }
}
