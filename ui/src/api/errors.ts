/**
 * Errors the app shows. A JSON-RPC error keeps the node's own message (the node words its errors
 * to name the problem and the fix; the banner shows them unchanged) and its code and data.
 */
export class RpcError extends Error {
  readonly code: number
  readonly data: unknown
  readonly method: string

  constructor(method: string, code: number, message: string, data?: unknown) {
    super(message)
    this.name = 'RpcError'
    this.method = method
    this.code = code
    this.data = data
  }
}

/** The HTTP-level refusals of the UI server (`{ error, message }` bodies: 401, 403, 429, 503). */
export class HttpError extends Error {
  readonly status: number
  readonly error: string

  constructor(status: number, error: string, message: string) {
    super(message)
    this.name = 'HttpError'
    this.status = status
    this.error = error
  }
}

/** The words to show for any failure: the node's message for RPC and HTTP errors. */
export function messageOf(err: unknown): string {
  if (err instanceof RpcError) {
    const code = typeof err.data === 'object' && err.data !== null && 'code' in err.data ? String((err.data as { code: unknown }).code) : undefined
    return code === undefined ? err.message : `${err.message} (${code})`
  }
  if (err instanceof Error) return err.message
  return String(err)
}
