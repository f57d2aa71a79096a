// The shape of record and bounty queries that needs no hashing: small enough for the CLI's flag
// help and checks to import without loading viem (query.ts builds and hashes the queries).

export const RESOURCE_TYPES = ['Patient', 'Encounter', 'Observation', 'Condition', 'MedicationRequest', 'Immunization', 'DocumentReference'] as const
export type ResourceType = (typeof RESOURCE_TYPES)[number]

/** A grant's field bitmask is a uint256 and a pointer's fieldCount a uint8. */
export const MAX_FIELDS = 255

/**
 * The code systems a query may filter on, by their FHIR URIs. A closed list: the query is stored
 * on chain for ever, and a free-form URI could carry a value (`http://x/E11`). Each is a well-known
 * terminology, so naming one says which kind of record is described, not what is in it.
 */
export const CODE_SYSTEMS = {
  'http://loinc.org': 'LOINC',
  'http://snomed.info/sct': 'SNOMED CT',
  'http://hl7.org/fhir/sid/icd-10': 'ICD-10',
  'http://hl7.org/fhir/sid/icd-10-cm': 'ICD-10-CM',
  'http://hl7.org/fhir/sid/icd-9-cm': 'ICD-9-CM',
  'http://www.nlm.nih.gov/research/umls/rxnorm': 'RxNorm',
  'http://hl7.org/fhir/sid/ndc': 'NDC',
  'http://www.whocc.no/atc': 'ATC',
  'http://hl7.org/fhir/sid/cvx': 'CVX',
  'http://www.ama-assn.org/go/cpt': 'CPT',
} as const satisfies Record<string, string>
export type CodeSystem = keyof typeof CODE_SYSTEMS
export const CODE_SYSTEM_URIS = Object.keys(CODE_SYSTEMS) as readonly CodeSystem[]

/**
 * The coded element `codeSystems` filters, per resource type (a record matches when any coding
 * of that element has one of the systems). Patient has none: a query cannot filter patients.
 */
export const CODED_ELEMENT: Readonly<Record<ResourceType, string | undefined>> = {
  Patient: undefined,
  Encounter: 'type',
  Observation: 'code',
  Condition: 'code',
  MedicationRequest: 'medicationCodeableConcept',
  Immunization: 'vaccineCode',
  DocumentReference: 'type',
}

/** What a valid pointer query looks like, for error messages and help. */
export const RECORD_QUERY_EXAMPLE = '{"resourceType":"Observation","fields":["code","valueQuantity"],"codeSystems":["http://loinc.org"]}'
export const BOUNTY_QUERY_EXAMPLE = '{"resourceType":"Condition","aggregate":"count","groupBy":["code"],"codeSystems":["http://hl7.org/fhir/sid/icd-10-cm"]}'

/** The grammar in one sentence: what every refusal of a value-carrying query says. */
export const QUERY_GRAMMAR =
  'a query names a resource type, fields and code systems, never values (no codes, dates, numbers or names): the chain keeps it for ever next to the patient\'s relationship'
