export { createDelegateAccounts, type Delegate, type DelegateAccounts } from './accounts.ts'
export { createDelegateVerifier, type DelegateVerifier } from './verifier.ts'
export { DELEGATE_PROTOCOL, MAX_DELEGATE_REQUEST_SECONDS, checkDelegateRequest, delegateRequestText, deriveDelegateKey, parseDelegateRequest, signDelegateRequest, type DelegateReply, type DelegateRequest, type SignedDelegateRequest } from './protocol.ts'
