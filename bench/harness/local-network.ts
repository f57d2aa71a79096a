/**
 * A network of real node processes on 127.0.0.1 for the `npm run bench` suites and the e2e tests
 * (PoA, or PoW): deterministic member keys, each member with its own data dir (genesis, node key,
 * keystore with its account) joining through the first running member; started, stopped and
 * restarted one by one, with per-member flags. (`medrec bench run` uses cluster.ts: random keys,
 * fixed ports for restarts after faults, cuttable links.)
 */
import { join } from 'node:path'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { genesisToJson, newGenesis, type Genesis } from '../../node/genesis/index.ts'
import { privateKeyToAddress } from '../../node/keys/index.ts'
import { writeDataDir } from './datadir.ts'
import { startNodeProcess, tempDir, type NodeProcess, type NodeProcessOptions } from './process.ts'
import { rpc, waitFor } from './rpc.ts'

export interface Member {
  name: string
  key: Uint8Array
  address: string
  datadir: string
  node: NodeProcess | undefined
  /** This member's libp2p listen address with its peer id, once started. */
  enode: string | undefined
}

export interface LocalNetwork {
  members: Member[]
  genesis: Genesis
  /**
   * Starts (or restarts) member `i`, joining `bootnodes` (default: the first running member).
   * `sealer` (default: on for poa) runs it as --authority; `miner` runs `--mine` for its own address on one thread.
   */
  start(i: number, opts?: { bootnodes?: string[]; sealer?: boolean; miner?: boolean; command?: 'start' | 'mine'; args?: string[] }): Promise<Member>
  stop(i: number): Promise<void>
  /** Every running member's head number. */
  heads(): Promise<number[]>
  close(): Promise<void>
}

export interface LocalNetworkOptions {
  /** Members in the genesis signer set (PoA: default all; PoW: the certified providers, default none). */
  authorities?: number
  period?: number
  epoch?: bigint
  logLevel?: string
  pow?: { targetBlockTime: number; difficulty: bigint }
  /** More `medrec start` arguments for every member (e.g. --metrics). */
  args?: string[]
  /** How the members' Node runs (NodeProcessOptions.launch). */
  launch?: NodeProcessOptions['launch']
  /** Where member `i` runs (default: here, everything on 127.0.0.1); netns.ts gives each its own network namespace. */
  placement?: (i: number) => MemberPlacement
}

export interface MemberPlacement {
  /** Its p2p listen address. */
  p2pAddr: string
  /** Its JSON-RPC listen address (also its one allowed Host name); default 127.0.0.1. */
  rpcAddr?: string
  /** How its Node runs; default the network's `launch`. */
  launch?: NodeProcessOptions['launch']
}

const PASSWORD = 'medrec-test'
export const keyOf = (label: string): Uint8Array => keccak_256(new TextEncoder().encode(`network-${label}`))
export const addressOfKey = (k: Uint8Array): string => `0x${Buffer.from(privateKeyToAddress(k)).toString('hex')}`

/** `medrec start` flags that run the gatekeeper as the member's own keystore account. */
export function gatekeeperArgs(m: Member, extra: string[] = []): string[] {
  return ['--gatekeeper', '--gatekeeper.account', m.address, '--gatekeeper.password', join(m.datadir, 'password'), '--gatekeeper.http.port', '0', ...extra]
}

/** `size` members, every one with a funded key (a non-authority can be voted in later); none started yet. */
export async function createLocalNetwork(size: number, opts: LocalNetworkOptions = {}): Promise<LocalNetwork> {
  const root = tempDir('medrec-net-')
  const labels = Array.from({ length: size }, (_, i) => `node${i}`)
  const keys = labels.map(keyOf)
  const genesis = newGenesis({
    chainId: 4242n,
    authorities: keys.slice(0, opts.authorities ?? (opts.pow === undefined ? size : 0)).map(privateKeyToAddress),
    ...(opts.pow === undefined ? { period: opts.period ?? 1, epoch: opts.epoch } : { pow: opts.pow }),
    gasLimit: 100_000_000n,
    alloc: keys.map((k) => [privateKeyToAddress(k), 10n ** 24n]),
    timestamp: 0n,
  })
  const genesisJson = JSON.stringify(genesisToJson(genesis), null, 2)
  const members: Member[] = []
  for (const [i, label] of labels.entries()) {
    const datadir = join(root.path, label)
    await writeDataDir(datadir, { genesisJson, nodeKey: keccak_256(keys[i]!), accountKey: keys[i]!, password: PASSWORD })
    members.push({ name: label, key: keys[i]!, address: addressOfKey(keys[i]!), datadir, node: undefined, enode: undefined })
  }

  return {
    members,
    genesis,
    async start(i, o = {}) {
      const m = members[i]!
      const boot = o.bootnodes ?? members.filter((x) => x !== m && x.node !== undefined && x.enode !== undefined).slice(0, 1).map((x) => x.enode!)
      const place = opts.placement?.(i)
      const p2pAddr = place?.p2pAddr ?? '127.0.0.1'
      const args = ['--p2p.addr', p2pAddr, '--p2p.port', '0', '--log.level', opts.logLevel ?? 'info', ...(opts.args ?? [])]
      if (place?.rpcAddr !== undefined) args.push('--rpc.addr', place.rpcAddr, '--rpc.vhosts', place.rpcAddr)
      if (boot.length > 0) args.push('--bootnodes', boot.join(','))
      if (o.sealer ?? opts.pow === undefined) args.push('--authority', m.address, '--password', join(m.datadir, 'password'))
      if (o.miner === true) args.push(...(o.command === 'mine' ? [] : ['--mine']), '--miner.etherbase', m.address, '--miner.threads', '1')
      args.push(...(o.args ?? []))
      m.node = await startNodeProcess({ datadir: m.datadir, args, timeoutMs: 60_000, command: o.command, launch: place?.launch ?? opts.launch })
      const info = await waitFor(async () => {
        const r = await rpc<{ listenAddrs: string[] }>(m.node!.url, 'admin_nodeInfo')
        return r.listenAddrs.length > 0 ? r : undefined
      }, `${m.name} to listen for peers`, 20_000)
      m.enode = info.listenAddrs.find((a) => a.includes(`/${p2pAddr}/`)) ?? info.listenAddrs[0]
      return m
    },
    async stop(i) {
      const m = members[i]!
      await m.node?.stop()
      m.node = undefined
    },
    async heads() {
      return Promise.all(members.filter((m) => m.node !== undefined).map(async (m) => Number(BigInt(await rpc<string>(m.node!.url, 'eth_blockNumber')))))
    },
    async close() {
      await Promise.all(members.map((m) => m.node?.kill()))
      root.remove()
    },
  }
}
