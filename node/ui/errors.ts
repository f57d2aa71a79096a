import { CodedError, codedErrorGuard } from '../../common/errors.ts'

export const UiErrorCode = {
  /** A sign-in code that is not one: malformed, wrong signature, another purpose. */
  BAD_CODE: 'UI_BAD_CODE',
  /** A sign-in code older than its 5 minutes, or made before the node (re)started. */
  CODE_EXPIRED: 'UI_CODE_EXPIRED',
  /** A sign-in code that was used already. */
  CODE_USED: 'UI_CODE_USED',
} as const
export type UiErrorCode = (typeof UiErrorCode)[keyof typeof UiErrorCode]

export class UiError extends CodedError<UiErrorCode> {}

/** `err` is a UiError (with code `code`, when given). */
export const isUiError = codedErrorGuard(UiError)
