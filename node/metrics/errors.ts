import { CodedError } from '../../common/errors.ts'

export const MetricsErrorCode = {
  /** A metric or label name breaks the exposition format's rules or this project's naming. */
  INVALID_NAME: 'INVALID_NAME',
  /** Two metrics registered under one name. */
  DUPLICATE_METRIC: 'DUPLICATE_METRIC',
  /** A sample's labels are not exactly the metric's label names. */
  INVALID_LABELS: 'INVALID_LABELS',
  /** A counter decreased, a bad bucket list, a non-numeric value. */
  INVALID_VALUE: 'INVALID_VALUE',
} as const
export type MetricsErrorCode = (typeof MetricsErrorCode)[keyof typeof MetricsErrorCode]

/** A metric used against its definition: a programming error, caught by the tests. */
export class MetricsError extends CodedError<MetricsErrorCode> {}
