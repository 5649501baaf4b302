/**
 * `@tollgate/cli`: the `tollgate` command, and its pieces for programs and
 * tests (spec parsing, capacity arithmetic, the load test, the stack
 * deployer).
 *
 * @packageDocumentation
 */

export { type KeyDistribution, keyPicker, seededRandom } from './bench/key-distribution.js';
export { type LatencySummary, percentile, summarizeLatencies } from './bench/latency.js';
export { type AppliedLimit, type BenchOptions, type BenchResult, runBench } from './bench/run-bench.js';
export {
  bucketItemBytes,
  type CapacityEstimate,
  DEFAULT_POLICY,
  DEFAULT_PROFILE,
  defaultUnits,
  estimateCapacity,
  HOURS_PER_MONTH,
  type ProvisioningPolicy,
  type TrafficProfile,
  type UnitRates,
  type UnitsPerCall,
} from './capacity/estimate.js';
export { DEFAULT_PRICES, DEFAULT_PRICES_SOURCE, type Prices } from './capacity/prices.js';
export { capacityReport } from './commands/capacity.js';
export { renderTemplate } from './commands/template.js';
export { type CliContext, clientConfig } from './context.js';
export { DEFAULT_TIMEOUT_MS, DeadlineExceeded, withDeadline } from './deadline.js';
export {
  type DeployResult,
  type DeployStackOptions,
  deleteStack,
  deployStack,
  findStack,
  isTerminal,
  type StackReport,
  stackReport,
} from './deploy/stack-deployer.js';
export {
  CliError,
  describeFailure,
  EXIT,
  type ExitCode,
  errorCodeFor,
  exitCodeFor,
  type Failure,
  type ServiceTarget,
  UNAVAILABLE_CODE,
  type UnavailableReason,
} from './exit-codes.js';
export { formatLimitSpec, parseLimitSpec } from './limit-spec.js';
export {
  type LocalInstanceState,
  loadDynamoDbLocal,
  readState,
  startLocalInstance,
  stateDirectory,
  stopLocalInstance,
} from './local/local-instance.js';
export { Output, type Progress, type Streams, type TextSink } from './output.js';
export { createProgram, type RunOptions, runCli, USAGE_CODE, VERSION } from './program.js';
export { parseTime } from './time-option.js';
