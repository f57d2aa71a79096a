// The shape of record and bounty queries that needs no hashing: small enough for the CLI's flag
// help and checks to import without loading viem (query.ts builds and hashes the queries).

export const RESOURCE_TYPES = ['Patient', 'Encounter', 'Observation', 'Condition', 'MedicationRequest', 'Immunization', 'DocumentReference'] as const
export type ResourceType = (typeof RESOURCE_TYPES)[number]

/** A grant's field bitmask is a uint256 and a pointer's fieldCount a uint8. */
export const MAX_FIELDS = 255
