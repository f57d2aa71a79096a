import { AsyncLocalStorage } from 'node:async_hooks'
import { readPasswordFile } from '../node/keys/index.ts'
import { CliError, CliErrorCode } from './errors.ts'

/** Where a command's results and notes go. */
export interface OutputSink {
  out(text: string): void
  err(text: string): void
}

const STDIO: OutputSink = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) }

// Commands run in-process (the gatekeeper CLI tests run ~100 command lines that way) print into a
// sink of their own, scoped to that call, instead of everyone swapping process.stdout.write: a test
// runner writes its own report through process.stdout.
const sinks = new AsyncLocalStorage<OutputSink>()

/** Runs `fn` with everything out() and note() print sent to `sink`. */
export function withOutput<T>(sink: OutputSink, fn: () => Promise<T>): Promise<T> {
  return sinks.run(sink, fn)
}

const line = (text: string) => (text.endsWith('\n') ? text : text + '\n')

/** Results go to stdout (pipeable); notes, warnings and prompts go to stderr. */
export function out(text: string): void {
  ;(sinks.getStore() ?? STDIO).out(line(text))
}
export function note(text: string): void {
  ;(sinks.getStore() ?? STDIO).err(line(text))
}
export function outJson(value: unknown): void {
  out(JSON.stringify(value, null, 2))
}

/** Prompts only when a person can answer: stdin is a terminal. */
export function canPrompt(): boolean {
  return process.stdin.isTTY === true
}

/** Reads one line from the terminal without echoing it. */
export function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin
  // Raw mode (no echo) before the prompt shows, so nothing typed after it is echoed.
  stdin.setRawMode(true)
  process.stderr.write(question)
  return new Promise((resolve, reject) => {
    let typed = ''
    const finish = (err: CliError | undefined) => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stderr.write('\n')
      if (err !== undefined) reject(err)
      else resolve(typed)
    }
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(undefined)
        if (ch === '\u0003') return finish(new CliError(CliErrorCode.INTERRUPTED, 'interrupted'))
        if (ch === '\u0004') {
          if (typed === '') return finish(new CliError(CliErrorCode.INTERRUPTED, 'no password typed (end of input)'))
          return finish(undefined)
        }
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1)
        else if (ch >= ' ') typed += ch
      }
    }
    stdin.resume()
    stdin.on('data', onData)
  })
}

export interface PasswordRequest {
  /** The file flag's value, if given. */
  file: string | undefined
  /** The file flag's name, for the "pass --password FILE" hint. */
  flag: string
  /** What the password protects, for the prompt: "the new account". */
  what: string
  /** Ask twice (new secrets); unlocking asks once. */
  confirm: boolean
}

/**
 * A password from `--password FILE`, else from a hidden prompt on a terminal, else a usage
 * error: a script without a password file must fail rather than hang on stdin.
 */
export async function getPassword(req: PasswordRequest): Promise<string> {
  if (req.file !== undefined) return readPasswordFile(req.file)
  assertPasswordSource(req.file, req.flag)
  const pw = await promptHidden(`Password for ${req.what}: `)
  if (pw === '') throw new CliError(CliErrorCode.PASSWORD_MISMATCH, 'the password is empty: type a password, or pass --' + req.flag + ' FILE')
  if (req.confirm && (await promptHidden('Repeat password: ')) !== pw) {
    throw new CliError(CliErrorCode.PASSWORD_MISMATCH, 'the passwords do not match: try again')
  }
  return pw
}

/** Fails early (before any work) when no password could be obtained later. */
export function assertPasswordSource(file: string | undefined, flag: string): void {
  if (file === undefined && !canPrompt()) {
    throw new CliError(CliErrorCode.NO_PASSWORD, `no password given: pass --${flag} FILE (a file whose first line is the password)`)
  }
}
