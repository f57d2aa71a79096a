// Public face of node/clock/: this node's clock measured against the sealers' from the blocks
// it receives (offset estimate, warnings, the authority's refusal to seal while off).
export { clockToleranceMs, createClockMonitor, type ClockMonitor, type ClockModules, type ClockOptions, type SealerClock } from './clock.ts'
export { DEFAULT_ESTIMATOR_OPTIONS, medianTowardZero, OffsetEstimator, type EstimatorOptions, type SourceOffset } from './estimator.ts'
