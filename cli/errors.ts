import { CodedError, codedErrorGuard } from '../common/errors.ts'

export const CliErrorCode = {
  /** Bad command line: unknown command or flag, bad or missing value. Exit status 2. */
  USAGE: 'CLI_USAGE',
  /** A password is needed, none was given and there is no terminal to ask on. Exit status 2. */
  NO_PASSWORD: 'CLI_NO_PASSWORD',
  /** The prompt's confirmation differed, or the password typed was empty. */
  PASSWORD_MISMATCH: 'CLI_PASSWORD_MISMATCH',
  /** Ctrl-C at a prompt. Exit status 130, as a shell reports SIGINT. */
  INTERRUPTED: 'CLI_INTERRUPTED',
  /** `start` on a data dir without genesis.json. */
  NOT_INITIALISED: 'CLI_NOT_INITIALISED',
  /** `init` on a data dir that already holds a different genesis. */
  GENESIS_MISMATCH: 'CLI_GENESIS_MISMATCH',
  /** A data dir that must exist does not. */
  NO_DATADIR: 'CLI_NO_DATADIR',
  /** The node's JSON-RPC endpoint cannot be reached, or it answered with an error. */
  RPC: 'CLI_RPC',
  /** An input file (private key, keyfile) cannot be read. */
  READ_FAILED: 'CLI_READ_FAILED',
  /** An output file (e.g. --out) cannot be written. */
  WRITE_FAILED: 'CLI_WRITE_FAILED',
  /** --keyfile is not JSON (its text is never echoed: it might be a raw private key). */
  BAD_KEYFILE: 'CLI_BAD_KEYFILE',
} as const
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode]

export class CliError extends CodedError<CliErrorCode> {}

/** `err` is a CliError (with code `code`, when given). */
export const isCliError = codedErrorGuard(CliError)

/** A command-line mistake; `main` adds the `Run "medrec X --help"` hint and exits 2. */
export function usageError(message: string): CliError {
  return new CliError(CliErrorCode.USAGE, message)
}

/** Exit status for anything a command throws: 2 for usage, 130 for Ctrl-C, else 1. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) {
    if (err.code === CliErrorCode.USAGE || err.code === CliErrorCode.NO_PASSWORD) return 2
    if (err.code === CliErrorCode.INTERRUPTED) return 130
  }
  return 1
}
