// Public face of contracts/client/: the typed MedRec client (the papers' function-call API over JSON-RPC).
export { createMedRecClient, type MedRecClient } from './client.ts'
export { defaultClientOptions, type MedRecClientOptions } from './options.ts'
export { ClientError, ClientErrorCode, isClientError, type ClientErrorDetails, type DecodedRevert } from './errors.ts'
export { decodeRevertData } from './revert.ts'
export { REVERT_RPC_CODE, type Rpc } from './rpc.ts'
export type { RegistrarClient } from './registrar.ts'
export { randomSalt, type RelationshipsClient } from './relationships.ts'
export type { RelationshipClient, NewPointer, PointerUpdate } from './ppr.ts'
export type { SummaryClient } from './summary.ts'
export type { NewPatientRecord, NewPatientRecordResult } from './flows.ts'
export {
  BOUNTY_AGGREGATES,
  CODED_ELEMENT,
  CODE_SYSTEMS,
  CODE_SYSTEM_URIS,
  MAX_FIELDS,
  QUERY_GRAMMAR,
  RESOURCE_TYPES,
  bountyQuery,
  canonicalJson,
  fieldMask,
  fieldsOfMask,
  hashCanonical,
  looksLikeSql,
  parseBountyQuery,
  parseRecordQuery,
  recordQuery,
  type BountyAggregate,
  type BountyQuery,
  type BuiltRecordQuery,
  type CanonicalQuery,
  type CodeSystem,
  type RecordQuery,
  type ResourceType,
} from './query.ts'
export { SUMMARY_ROLES, SUMMARY_STATUSES } from './types.ts'
export type {
  Bounty,
  GrantItem,
  GrantState,
  Page,
  Pointer,
  ProviderEntry,
  ProviderInfo,
  RelationshipInfo,
  SummaryEntry,
  SummaryRole,
  SummaryStatus,
  TxReceipt,
  WriteOptions,
  WriteResult,
} from './types.ts'
