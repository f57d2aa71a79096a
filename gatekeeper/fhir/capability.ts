import { RESOURCE_TYPES } from '../../contracts/client/index.ts'
import { SEARCH_PARAMS } from './search-params.ts'
import { MAX_BATCH_ENTRIES } from './batch.ts'

/**
 * GET /fhir/metadata: what this server is (R4, JSON, read-only), the resource types the provider
 * database holds with exactly the interactions and search parameters implemented, Patient
 * $everything, and where SMART apps get tokens (the oauth-uris extension, as SMART App Launch
 * 1.0 and 2.0 discovery reads it besides /.well-known/smart-configuration).
 */

export interface OAuthUris {
  authorize: string
  token: string
}

/** The day this statement's content last changed (CapabilityStatement.date is required). */
const PUBLISHED = '2026-12-07'

export function capabilityStatement(baseUrl: string, oauth: OAuthUris): Record<string, unknown> {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: PUBLISHED,
    kind: 'instance',
    software: { name: 'medrec-node gatekeeper' },
    implementation: { description: "A provider's records, served to whom the MedRec chain permits", url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        documentation: 'Read-only. Every request needs a SMART access token (Authorization: Bearer); what it reads is decided from the chain at each request. Results page with _count (1 to 1000, default 50) and _offset; other result parameters are refused.',
        security: {
          cors: true,
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [
                { url: 'authorize', valueUri: oauth.authorize },
                { url: 'token', valueUri: oauth.token },
              ],
            },
          ],
        },
        interaction: [{ code: 'batch', documentation: `Reads only: each entry a GET of a read, search or Patient $everything, answered and audited as its own request; at most ${MAX_BATCH_ENTRIES} entries.` }],
        resource: RESOURCE_TYPES.map((type) => ({
          type,
          interaction: [{ code: 'read' }, { code: 'search-type' }],
          searchParam: SEARCH_PARAMS[type].map((p) => ({ name: p.name, type: p.type, documentation: p.documentation })),
          ...(type === 'Patient' ? { operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }] } : {}),
        })),
      },
    ],
  }
}

/** The statement's JSON bytes, kept while the base URL and OAuth endpoints stay the same (metadata is polled by clients; it never changes otherwise). */
let cached: { key: string; bytes: Uint8Array } | undefined

export function capabilityBytes(baseUrl: string, oauth: OAuthUris): Uint8Array {
  const key = JSON.stringify([baseUrl, oauth.authorize, oauth.token])
  if (cached?.key !== key) cached = { key, bytes: Buffer.from(JSON.stringify(capabilityStatement(baseUrl, oauth)), 'utf8') }
  return cached.bytes
}
