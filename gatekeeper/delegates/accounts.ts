import type { DatabaseSync } from 'node:sqlite'
import { bytesToHex, getAddress, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import type { MedRecClient, Rpc } from '../../contracts/client/index.ts'
import { createLogger, errorMessage } from '../../common/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from '../errors.ts'
import { deriveDelegateKey, signDelegateRequest, TOP_UP_GAS, type DelegateRegistration, type DelegateReply } from './protocol.ts'

const log = createLogger('gatekeeper:delegates')

export interface DelegateAccountsModules {
  /** The gatekeeper's state.sqlite: index → delegate → relationship. */
  db: DatabaseSync
  /** The provider's authority key: every delegate key is derived from it, none is stored. */
  authorityKey: Uint8Array
  chainId: bigint
  /** The provider's own client (Registrar reads). */
  client: MedRecClient
  transport: Rpc
  /** A MedRec client acting as the given key (the delegate's transactions). */
  clientFor(privateKey: Hex): MedRecClient
  /** Sends a verification request to an authority's gatekeeper multiaddr; absent without p2p. */
  request?: (multiaddr: string, body: Uint8Array) => Promise<Uint8Array>
  /** false: relationships are created by the authority account itself (`--gatekeeper.delegates=false`). */
  enabled: boolean
  /** How long to wait for the verification to reach this node's head. */
  waitMs?: number
  now?: () => number
}

export interface Delegate {
  index: number
  address: Address
  /** Derived on demand, held in memory only. */
  privateKey: Hex
  client: MedRecClient
  /**
   * The verifying authority's gatekeeper endpoint (its Registrar multiaddr, else URL): the
   * endpoint the delegate's relationship records, so requesters reach this gatekeeper through
   * that relay and the chain never shows the provider's own address. '' for a delegate verified
   * before relays existed.
   */
  relay: string
}

interface Row {
  idx: number
  address: string
  relationship: string | null
  verified_by: string | null
  relay: string | null
  patient: string | null
}

export interface AcquireOptions {
  /** The local patient the delegate is for: one verified for this patient earlier (by add-patient) is taken first. */
  patientId?: string
  /** Have the verifier register this identity in the same job (skipped by it when registered already). */
  register?: DelegateRegistration
}

/**
 * The provider's per-relationship delegate accounts. Keys are derived from the authority key on
 * demand (protocol.ts); state.sqlite keeps only index, address, relationship and verifier. A new
 * relationship takes the lowest unused index, which another authority, chosen at random among the
 * signers at the head, verifies and funds.
 */
export function createDelegateAccounts(modules: DelegateAccountsModules) {
  const { db, client } = modules
  db.exec(`CREATE TABLE IF NOT EXISTS delegates (
    idx INTEGER PRIMARY KEY,
    address TEXT NOT NULL UNIQUE,
    relationship TEXT UNIQUE,
    verified_by TEXT,
    created_at INTEGER NOT NULL
  ) STRICT`)
  // Columns added with relays (older data dirs get them empty).
  const cols = new Set((db.prepare('PRAGMA table_info(delegates)').all() as { name: string }[]).map((c) => c.name))
  if (!cols.has('relay')) db.exec('ALTER TABLE delegates ADD COLUMN relay TEXT')
  if (!cols.has('patient')) db.exec('ALTER TABLE delegates ADD COLUMN patient TEXT')
  const insert = db.prepare('INSERT INTO delegates (idx, address, relationship, verified_by, created_at) VALUES (?, ?, NULL, NULL, ?)')
  const ROW = 'idx, address, relationship, verified_by, relay, patient'
  const unbound = db.prepare(`SELECT ${ROW} FROM delegates WHERE relationship IS NULL ORDER BY idx`)
  const byIdx = db.prepare(`SELECT ${ROW} FROM delegates WHERE idx = ?`)
  const setVerified = db.prepare('UPDATE delegates SET verified_by = ?, relay = ? WHERE idx = ?')
  const setPatient = db.prepare('UPDATE delegates SET patient = ? WHERE idx = ?')
  const maxIdx = db.prepare('SELECT MAX(idx) AS m FROM delegates')
  const setRel = db.prepare('UPDATE delegates SET relationship = ? WHERE idx = ?')
  const byRel = db.prepare('SELECT address FROM delegates WHERE relationship = ?')
  const allRows = db.prepare(`SELECT ${ROW} FROM delegates ORDER BY idx`)
  const now = modules.now ?? (() => Math.floor(Date.now() / 1000))
  const waitMs = modules.waitMs ?? 60_000
  const self = privateKeyToAccount(bytesToHex(modules.authorityKey)).address

  const indexOf = new Map<string, number>()
  for (const r of allRows.all() as unknown as Row[]) indexOf.set(r.address, Number(r.idx))
  const clients = new Map<number, MedRecClient>()
  const reserved = new Set<number>()
  let lock: Promise<unknown> = Promise.resolve()
  let warned = false

  function delegateAt(index: number): Delegate {
    const key = bytesToHex(deriveDelegateKey(modules.authorityKey, modules.chainId, index)) as Hex
    let c = clients.get(index)
    if (c === undefined) {
      c = modules.clientFor(key)
      clients.set(index, c)
    }
    const row = byIdx.get(index) as Row | undefined
    return { index, address: c.address, privateKey: key, client: c, relay: row?.relay ?? '' }
  }

  /** The other signers at the head; undefined when the engine has none (proof of work). */
  async function otherSigners(): Promise<Address[] | undefined> {
    let signers: string[]
    try {
      signers = await modules.transport.request<string[]>('clique_getSigners', ['latest'])
    } catch {
      return undefined
    }
    return signers.map((s) => getAddress(s)).filter((s) => s.toLowerCase() !== self.toLowerCase())
  }

  function random(n: number): number {
    return crypto.getRandomValues(new Uint32Array(1))[0]! % n
  }

  /** Asks one authority; resolves, with the relay endpoint, when this node's head shows the delegate verified and funded (and the identity registered). */
  async function verifyBy(verifier: Address, d: Delegate, register?: DelegateRegistration): Promise<string> {
    if (modules.request === undefined) throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, 'this node runs without p2p, so it cannot ask another authority: start it with --p2p.port')
    const entry = await client.registrar.provider(verifier)
    if (entry.multiaddr === '') throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `authority ${verifier} publishes no gatekeeper multiaddr in the Registrar`)
    const signed = await signDelegateRequest(bytesToHex(modules.authorityKey) as Hex, bytesToHex(deriveDelegateKey(modules.authorityKey, modules.chainId, d.index)) as Hex, { chainId: Number(modules.chainId), verifier, now: now(), ...(register === undefined ? {} : { register }) })
    const raw = await modules.request(entry.multiaddr, new TextEncoder().encode(JSON.stringify(signed)))
    const reply = JSON.parse(new TextDecoder().decode(raw)) as DelegateReply
    if (!reply.ok) throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `authority ${verifier} refused to verify the delegate: ${reply.error.code}: ${reply.error.message}`)
    if ('topUp' in reply) throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `authority ${verifier} answered a verification with a top-up`)
    // The relationship records the verifier's published endpoint (the one dialled, so it reaches
    // the relay); its reply says the same unless it moved since.
    const relay = entry.multiaddr !== '' ? entry.multiaddr : typeof reply.relay === 'string' ? reply.relay : ''
    const deadline = Date.now() + waitMs
    for (;;) {
      if (
        (await client.registrar.isDelegate(d.address)) &&
        (BigInt(reply.funded) === 0n || (await client.balanceOf(d.address)) > 0n) &&
        (register === undefined || (await client.registrar.resolve(register.identity)) !== undefined)
      ) return relay
      if (Date.now() > deadline) throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `authority ${verifier} says it verified ${d.address} (transaction ${reply.verifyTx}), but this node's head does not show it after ${waitMs / 1000} s`)
      await new Promise((r) => setTimeout(r, 250))
    }
  }

  const asked = new Map<number, number>()
  /**
   * Before a delegate sends: when its balance is below what a few transactions cost
   * (TOP_UP_GAS at the gas price now), ask the authority that verified it for its funding again,
   * signed like the verification, and wait for it to arrive. At most one ask per delegate per
   * 10 minutes; a refusal is logged and the transaction is tried anyway.
   */
  async function ensureFunds(address: string): Promise<void> {
    const index = indexOf.get(address.toLowerCase())
    const row = index === undefined ? undefined : (byIdx.get(index) as Row | undefined)
    if (index === undefined || row?.verified_by == null || modules.request === undefined) return
    if (Date.now() - (asked.get(index) ?? -Infinity) < 600_000) return
    const threshold = TOP_UP_GAS * BigInt(await modules.transport.request<string>('eth_gasPrice', []))
    const before = await client.balanceOf(address)
    if (before >= threshold) return
    asked.set(index, Date.now())
    const verifier = getAddress(row.verified_by)
    try {
      const entry = await client.registrar.provider(verifier)
      if (entry.multiaddr === '') throw new Error(`authority ${verifier} publishes no gatekeeper multiaddr`)
      const signed = await signDelegateRequest(bytesToHex(modules.authorityKey) as Hex, bytesToHex(deriveDelegateKey(modules.authorityKey, modules.chainId, index)) as Hex, { chainId: Number(modules.chainId), verifier, now: now(), topUp: true })
      const reply = JSON.parse(new TextDecoder().decode(await modules.request(entry.multiaddr, new TextEncoder().encode(JSON.stringify(signed))))) as DelegateReply
      if (!reply.ok) throw new Error(`${reply.error.code}: ${reply.error.message}`)
      const deadline = Date.now() + waitMs
      while ((await client.balanceOf(address)) <= before) {
        if (Date.now() > deadline) throw new Error(`the top-up is not at this node's head after ${waitMs / 1000} s`)
        await new Promise((r) => setTimeout(r, 250))
      }
      log.info('Delegate topped up by its verifying authority', { delegate: address })
    } catch (err) {
      log.warn('Could not top up a delegate; sending anyway', { delegate: address }, errorMessage(err))
    }
  }

  /** The lowest free delegate: one verified for `patientId` first, else one for no patient, else a new index. */
  async function reserve(patientId: string | undefined, skip: ReadonlySet<number>): Promise<Delegate> {
    const run = lock.then(() => {
      const rows = (unbound.all() as unknown as Row[]).filter((r) => !reserved.has(Number(r.idx)) && !skip.has(Number(r.idx)))
      const free = (patientId === undefined ? undefined : rows.find((r) => r.patient === patientId)) ?? rows.find((r) => r.patient === null)
      let index: number
      if (free !== undefined) index = Number(free.idx)
      else {
        index = Number((maxIdx.get() as { m: number | null }).m ?? -1) + 1
        const d = delegateAt(index)
        insert.run(index, d.address.toLowerCase(), Date.now())
        indexOf.set(d.address.toLowerCase(), index)
      }
      reserved.add(index)
      return delegateAt(index)
    })
    lock = run.catch(() => undefined)
    return run
  }

  /**
   * Whether new relationships get a delegate: delegates are on, and another authority exists
   * to verify one (not under proof of work, not on a single-authority or --dev chain, where
   * self-verification would name the provider in DelegateVerified, linking them anyway).
   */
  async function active(): Promise<boolean> {
    if (!modules.enabled) return false
    const others = await otherSigners()
    if (others === undefined || others.length === 0) {
      if (!warned) log.warn(others === undefined ? 'No signer set (proof of work): relationships are created by the provider account, which the chain links to each patient' : 'This node is the only authority, so no other authority can verify a delegate: relationships are created by the provider account, which the chain links to each patient')
      warned = true
      return false
    }
    return true
  }

  return {
    enabled: modules.enabled,

    /**
     * A verified, funded delegate for a new relationship, reserved until `bind` or `release`;
     * undefined when relationships are created by the authority account: delegates are off,
     * the chain has no signer set (proof of work), or this node is its only signer (a --dev
     * chain: self-verification would name the provider in DelegateVerified, linking them anyway).
     */
    async acquire(opts: AcquireOptions = {}): Promise<Delegate | undefined> {
      if (!(await active())) return undefined
      const others = (await otherSigners())!
      const skip = new Set<number>()
      for (;;) {
        const d = await reserve(opts.patientId, skip)
        try {
          // An earlier attempt may have been verified after its reply was lost: usable when it
          // has its relay and nothing more is asked of the verifier; else it waits for a plain acquire.
          if (await client.registrar.isDelegate(d.address)) {
            const registered = opts.register === undefined || (await client.registrar.resolve(opts.register.identity)) !== undefined
            if (d.relay !== '' && registered && (await client.balanceOf(d.address)) > 0n) return d
            reserved.delete(d.index)
            skip.add(d.index)
            continue
          }
          const failures: string[] = []
          const candidates = [...others]
          while (candidates.length > 0) {
            const [verifier] = candidates.splice(random(candidates.length), 1) as [Address]
            try {
              const relay = await verifyBy(verifier, d, opts.register)
              setVerified.run(verifier.toLowerCase(), relay, d.index)
              if (opts.patientId !== undefined) setPatient.run(opts.patientId, d.index)
              log.info('Delegate verified by another authority', { delegate: d.address, index: d.index })
              return { ...d, relay }
            } catch (err) {
              failures.push(errorMessage(err))
            }
          }
          throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `no other authority verified a delegate account (${failures.join('; ')}): run the other authorities' gatekeepers with p2p, or start this node with --gatekeeper.delegates=false to create relationships as the authority account (the chain then links it to every patient)`)
        } catch (err) {
          reserved.delete(d.index)
          throw err
        }
      }
    },
    active,
    ensureFunds,
    /** The delegate now stewards `relationship` (lower case). */
    bind(d: Delegate, relationship: string): void {
      setRel.run(relationship.toLowerCase(), d.index)
      reserved.delete(d.index)
    },
    release(d: Delegate): void {
      reserved.delete(d.index)
    },
    /** Whether `address` is one of this provider's delegates. */
    isOurs: (address: string): boolean => indexOf.has(address.toLowerCase()),
    /** The delegate of a relationship this gatekeeper created through one; undefined for the authority's own. */
    ofRelationship(relationship: string): Delegate | undefined {
      const row = byRel.get(relationship.toLowerCase()) as { address: string } | undefined
      const index = row === undefined ? undefined : indexOf.get(row.address)
      return index === undefined ? undefined : delegateAt(index)
    },
    /** The delegate with this address (its key derived on demand). */
    byAddress(address: string): Delegate | undefined {
      const index = indexOf.get(address.toLowerCase())
      return index === undefined ? undefined : delegateAt(index)
    },
    list: () => (allRows.all() as unknown as Row[]).map((r) => ({ index: Number(r.idx), address: getAddress(r.address), relationship: r.relationship, verifiedBy: r.verified_by, relay: r.relay ?? '' })),
  }
}

export type DelegateAccounts = ReturnType<typeof createDelegateAccounts>
