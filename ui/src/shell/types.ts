// What the shell hands every screen (ui/src/screens/index.ts says how a screen plugs in).
import type { Rpc } from '../api/rpc.ts'
import type { Session } from '../api/types.ts'

export type { BrowserSession, NodeSession, Role, Session } from '../api/types.ts'

/** What a signing dialog shows: a title and, in words, what the signature does. */
export interface SigningRequest {
  /** "Accept the relationship with 0x…": the dialog is named "Confirm: <title>". */
  title: string
  /** Sentences a person reads before signing. */
  lines: string[]
  /** Who signs: the node's account (through the node) or the key in this browser. */
  signer: string
}

export interface ScreenProps {
  session: Session
  rpc: Rpc
  /** A polite announcement in the "Notifications" live region. */
  notify(text: string): void
  /** The "Error" banner; an RpcError shows the node's own message. */
  fail(err: unknown): void
  /** Opens the "Confirm: …" dialog; resolves true when the person chose "Sign and send". */
  confirm(request: SigningRequest): Promise<boolean>
}
