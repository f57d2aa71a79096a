// The medrec_* operations' parameter and result types, from the gatekeeper's own declaration
// (type-only: erased from the bundle, so the app loads nothing of gatekeeper/).
import type {
  AddPatientParams,
  AddPatientResult,
  AddRecordParams,
  AddRecordResult,
  ApproveParams,
  ApproveResult,
  AuditParams,
  AuditResult,
  BountyResult,
  BountyView,
  ConsentRequest,
  FetchParams,
  FetchResult,
  GatekeeperInfo,
  ImportParams,
  ImportResult,
  Notification,
  RelationshipView,
  RequireConsentParams,
  ShareParams,
  UpdateParams,
  UpdateResult,
} from '../../../gatekeeper/api.ts'

export type {
  AddPatientResult,
  AddRecordResult,
  AuditEntryView,
  AuditResult,
  ConsentRequest,
  FetchResult,
  FetchedPointer,
  GatekeeperInfo,
  ImportResult,
  Notification,
  NotificationKind,
  RelationshipView,
} from '../../../gatekeeper/api.ts'
export type { FhirBundle, FhirResource } from '../../../gatekeeper/types.ts'

/** method → [params (undefined: none), result]. */
export interface MedrecApi {
  medrec_gatekeeperInfo: [undefined, GatekeeperInfo]
  medrec_addPatient: [AddPatientParams, AddPatientResult]
  medrec_addRecord: [AddRecordParams, AddRecordResult]
  medrec_update: [UpdateParams, UpdateResult]
  medrec_import: [ImportParams, ImportResult]
  medrec_consentRequests: [undefined, ConsentRequest[]]
  medrec_requireConsent: [RequireConsentParams, { relationship: string; required: boolean; transaction: string }]
  medrec_approve: [ApproveParams, ApproveResult]
  medrec_relationships: [undefined, RelationshipView[]]
  medrec_accept: [{ relationship: string }, { relationship: string; status: string; transaction: string }]
  medrec_reject: [{ relationship: string }, { relationship: string; status: string; transaction: string }]
  medrec_delete: [{ relationship: string }, { relationship: string; status: string; transaction: string }]
  medrec_share: [ShareParams, { grantId: number; transaction: string }]
  medrec_revoke: [{ relationship: string; viewer: string }, { transaction: string }]
  medrec_fetch: [FetchParams, FetchResult]
  medrec_audit: [AuditParams, AuditResult]
  medrec_bounties: [undefined, BountyView[]]
  medrec_collectBounty: [{ index: number }, BountyResult]
  medrec_collectedBounties: [undefined, BountyResult[]]
  medrec_notifications: [{ since?: number }, Notification[]]
}
export type MedrecMethodName = keyof MedrecApi
