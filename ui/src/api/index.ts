// The app's face onto the node: JSON-RPC over /rpc, the session endpoints, notifications, metrics.
export { HttpError, RpcError, messageOf } from './errors.ts'
export { createRpc, type Rpc } from './rpc.ts'
export { followNotifications } from './events.ts'
export { metrics, resumeSession, signInWithCode, signOut, takeSigninCode, type MetricsSample } from './session.ts'
export type * from './medrec.ts'
export { browserClient, readClient } from './chain.ts'
export { browserRecords } from './gatekeeper.ts'
export type { BrowserSession, NodeSession, Role, Session } from './types.ts'
