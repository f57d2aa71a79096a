/**
 * One error class for the whole project: a discriminated `code` plus context.
 * Each folder narrows `C` to its own union of codes in its `errors.ts`, so callers can
 * switch on `err.code` across module boundaries instead of matching message text.
 */
export class CodedError<C extends string = string> extends Error {
  readonly code: C
  readonly context: Record<string, unknown> | undefined

  constructor(code: C, message: string, context?: Record<string, unknown>, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = new.target.name
    this.code = code
    this.context = context
  }
}

export function isCodedError(err: unknown): err is CodedError {
  return err instanceof CodedError
}

/** The message of anything thrown, for logs and error replies. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
