/**
 * One error class for the whole project: a discriminated `code` plus context.
 * Each folder narrows `C` to its own union of codes in its `errors.ts`, so callers can
 * switch on `err.code` across module boundaries instead of matching message text.
 *
 * Code scheme: every code is `<FOLDER>_<NAME>`, FOLDER being the upper-cased name of the folder
 * whose errors.ts declares it (P2P_TIMEOUT, RPC_TIMEOUT, CLIENT_TIMEOUT, CHAIN_INVALID_BLOCK,
 * MEMPOOL_NONCE_TOO_LOW, KEYS_WRONG_PASSWORD, CLI_USAGE, GATEKEEPER_…), so a code names its
 * origin in logs, `--json` output and JSON-RPC `data`, and no two folders share one. Code
 * objects keep the short name as key (`P2PErrorCode.TIMEOUT === 'P2P_TIMEOUT'`). Each errors.ts
 * exports a guard made by `codedErrorGuard` (`isP2PError(err, P2PErrorCode.TIMEOUT)`) for callers
 * to test instead of casting; `errorCode` reads the code of errors that are not ours (Node's
 * EADDRINUSE, level's LEVEL_DATABASE_NOT_OPEN). Codes that travel on a wire protocol between
 * nodes (p2p's RemoteErrorCode, the gatekeeper's reply codes) are part of that protocol, not of
 * this scheme.
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

/**
 * A folder's type guard: `err` is an instance of `cls` (with code `code`, when given), narrowed
 * to it. `export const isP2PError = codedErrorGuard(P2PError)`.
 */
export function codedErrorGuard<E extends CodedError>(cls: abstract new (...args: never[]) => E): <C extends E['code'] = E['code']>(err: unknown, code?: C) => err is E & { readonly code: C } {
  return <C extends E['code']>(err: unknown, code?: C): err is E & { readonly code: C } => err instanceof cls && (code === undefined || err.code === code)
}

/**
 * The `code` of a thrown value that is not a CodedError (Node's system errors such as EADDRINUSE
 * or ENOENT, level's LEVEL_*), or undefined. Ours are tested with their folder's guard.
 */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined
  return typeof err.code === 'string' ? err.code : undefined
}

/** The message of anything thrown, for logs and error replies. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
