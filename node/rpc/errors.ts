import { CodedError, codedErrorGuard } from '../../common/index.ts'

export const RpcErrorCode = {
  PARSE_ERROR: 'RPC_PARSE_ERROR',
  INVALID_REQUEST: 'RPC_INVALID_REQUEST',
  METHOD_NOT_FOUND: 'RPC_METHOD_NOT_FOUND',
  INVALID_PARAMS: 'RPC_INVALID_PARAMS',
  INTERNAL: 'RPC_INTERNAL',
  SERVER: 'RPC_SERVER',
  TIMEOUT: 'RPC_TIMEOUT',
  LIMIT_EXCEEDED: 'RPC_LIMIT_EXCEEDED',
  REVERTED: 'RPC_REVERTED',
  /** A batch's answers passed --rpc.batch-response-max-size. */
  RESPONSE_TOO_LARGE: 'RPC_RESPONSE_TOO_LARGE',
  /** A protected method without a valid bearer token (auth.ts). */
  UNAUTHORIZED: 'RPC_UNAUTHORIZED',
} as const
export type RpcErrorCode = (typeof RpcErrorCode)[keyof typeof RpcErrorCode]

/** The numeric JSON-RPC code each of our codes goes out with (geth's choices where it has one). */
export const JSONRPC_CODE: Record<RpcErrorCode, number> = {
  [RpcErrorCode.PARSE_ERROR]: -32700,
  [RpcErrorCode.INVALID_REQUEST]: -32600,
  [RpcErrorCode.METHOD_NOT_FOUND]: -32601,
  [RpcErrorCode.INVALID_PARAMS]: -32602,
  [RpcErrorCode.INTERNAL]: -32603,
  [RpcErrorCode.SERVER]: -32000,
  [RpcErrorCode.TIMEOUT]: -32002,
  [RpcErrorCode.LIMIT_EXCEEDED]: -32005,
  [RpcErrorCode.REVERTED]: 3,
  [RpcErrorCode.RESPONSE_TOO_LARGE]: -32003,
  // geth answers its authenticated port with HTTP 401 and no JSON-RPC code; this one is ours.
  [RpcErrorCode.UNAUTHORIZED]: -32001,
}

/** The `error` member of a JSON-RPC response. */
export interface RpcErrorJson {
  code: number
  message: string
  data?: unknown
}

/**
 * An error that goes back to the caller as a JSON-RPC error object. Anything else a handler
 * throws is a bug on our side and is answered with -32603 by the server.
 */
export class RpcError extends CodedError<RpcErrorCode> {
  readonly rpcCode: number
  readonly data: unknown

  constructor(code: RpcErrorCode, message: string, opts: { data?: unknown; cause?: unknown } = {}) {
    super(code, message, undefined, opts.cause)
    this.rpcCode = JSONRPC_CODE[code]
    this.data = opts.data
  }

  toJSON(): RpcErrorJson {
    return this.data === undefined ? { code: this.rpcCode, message: this.message } : { code: this.rpcCode, message: this.message, data: this.data }
  }

  static parse(detail: string): RpcError {
    return new RpcError(RpcErrorCode.PARSE_ERROR, `parse error: ${detail}`)
  }
  static invalidRequest(detail: string): RpcError {
    return new RpcError(RpcErrorCode.INVALID_REQUEST, `invalid request: ${detail}`)
  }
  static methodNotFound(method: string): RpcError {
    return new RpcError(RpcErrorCode.METHOD_NOT_FOUND, `the method ${method} does not exist/is not available`)
  }
  /** A method the node has but --rpc.api does not expose: geth's wording, plus the fix. */
  static namespaceDisabled(method: string, namespace: string, enabled: readonly string[]): RpcError {
    return new RpcError(RpcErrorCode.METHOD_NOT_FOUND, `the method ${method} does not exist/is not available: its namespace "${namespace}" is not enabled on this node; start it with --rpc.api ${[...enabled, namespace].join(',')}`)
  }
  /** Message as given by auth.ts: what is wrong with the token and how to authenticate. */
  static unauthorized(message: string): RpcError {
    return new RpcError(RpcErrorCode.UNAUTHORIZED, `unauthorized: ${message}`)
  }
  /** eth_subscribe over HTTP: the transport cannot push (geth's wording). */
  static notificationsNotSupported(): RpcError {
    return new RpcError(RpcErrorCode.METHOD_NOT_FOUND, 'notifications not supported')
  }
  /** Message as given; validate.ts builds geth-like "invalid argument N: ..." texts. */
  static invalidParams(message: string): RpcError {
    return new RpcError(RpcErrorCode.INVALID_PARAMS, message)
  }
  static internal(detail: string, cause?: unknown): RpcError {
    return new RpcError(RpcErrorCode.INTERNAL, `internal error: ${detail}`, { cause })
  }
  /** -32000: geth's code for tx-pool rejections and "header not found"-style failures. */
  static server(message: string, data?: unknown): RpcError {
    return new RpcError(RpcErrorCode.SERVER, message, { data })
  }
  static timeout(): RpcError {
    return new RpcError(RpcErrorCode.TIMEOUT, 'request timed out')
  }
  static limit(message: string): RpcError {
    return new RpcError(RpcErrorCode.LIMIT_EXCEEDED, message)
  }
  /** geth's -32600 "batch too large", plus the numbers and the fix. */
  static batchTooLarge(requests: number, limit: number): RpcError {
    return new RpcError(RpcErrorCode.INVALID_REQUEST, `batch too large: ${requests} requests, this node's limit is ${limit} (--rpc.batch-request-limit); send smaller batches`)
  }
  /** geth's -32003 "response too large" for the calls of a batch left when its answers passed the limit. */
  static responseTooLarge(limit: number): RpcError {
    return new RpcError(RpcErrorCode.RESPONSE_TOO_LARGE, `response too large: this batch's answers passed ${limit} bytes (--rpc.batch-response-max-size), so this call was not run; send it again in a smaller batch`)
  }
}

/** `err` is an RpcError (with code `code`, when given). */
export const isRpcError = codedErrorGuard(RpcError)

export const JwtSecretErrorCode = {
  /** No secret file where one was looked for. */
  NO_SECRET: 'RPC_NO_SECRET',
  UNREADABLE: 'RPC_UNREADABLE',
  BAD_SECRET: 'RPC_BAD_SECRET',
} as const
export type JwtSecretErrorCode = (typeof JwtSecretErrorCode)[keyof typeof JwtSecretErrorCode]

/** The JWT secret file (auth.ts) is missing, unreadable or not 32 hex bytes. */
export class JwtSecretError extends CodedError<JwtSecretErrorCode> {}

/** `err` is a JwtSecretError (with code `code`, when given). */
export const isJwtSecretError = codedErrorGuard(JwtSecretError)
