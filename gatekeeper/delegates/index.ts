export { createDelegateAccounts, type AcquireOptions, type Delegate, type DelegateAccounts } from './accounts.ts'
export { createDelegateVerifier, type DelegateVerifier } from './verifier.ts'
export { createRelay, createRelayTable, type Relay, type RelayTable } from './relay.ts'
export { DELEGATE_PROTOCOL, MAX_DELEGATE_REQUEST_SECONDS, MAX_IDENTITY_LENGTH, checkDelegateRequest, delegateRequestText, deriveDelegateKey, parseDelegateRequest, signDelegateRequest, type DelegateRegistration, type DelegateReply, type DelegateRequest, type SignedDelegateRequest } from './protocol.ts'
