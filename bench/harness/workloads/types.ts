/** What a workload is: set-up on the running network, then one transaction per (sender, sequence). */
import type { Common } from '@ethereumjs/common'

/** The fields of one EIP-1559 transaction the harness signs (nonce, fees and chain id are added). */
export interface TxFields {
  to?: Uint8Array
  value?: bigint
  data?: Uint8Array
  gasLimit: bigint
}

/** What set-up gets: the network, a funded account, and helpers that wait for inclusion everywhere. */
export interface WorkloadContext {
  chainId: bigint
  common: Common
  /** JSON-RPC endpoints in node order. */
  urls: string[]
  /** Member 0's key (funded in the genesis; an authority under PoA). */
  funderKey: Uint8Array
  /** Every node's key, in node order (authorities under PoA, etherbases under PoW). */
  nodeKeys: Uint8Array[]
  /** The sending accounts' keys and addresses (funded before set-up runs). */
  senderKeys: Uint8Array[]
  senderAddresses: Uint8Array[]
  /**
   * Signs `fields` with `key` at that account's next nonce (tracked here), sends it to node 0 and
   * returns its hash. Use `waitIncluded` on the last hash of a batch.
   */
  send(fields: TxFields, key: Uint8Array): Promise<string>
  /** Deploys init code from the funder; resolves once every node has the receipt; the address. */
  deploy(initcode: string, gasLimit: bigint, what: string): Promise<string>
  /** Waits until every node has the receipt of `hash` and it succeeded (status 1). */
  waitIncluded(hash: string, what: string): Promise<void>
  progress(line: string): void
}

/** What set-up leaves: how to make the run's transactions. */
export interface WorkloadPlan {
  /** The contract the transactions call, for the report (null for plain transfers). */
  contract: string | null
  /**
   * The `seq`-th measured transaction of sender `sender` (seq counts from 0 for each sender;
   * the harness assigns the nonces). Must be deterministic given the set-up.
   */
  tx(sender: number, seq: number): TxFields
  /**
   * Off-chain requests the harness makes and times during the measured window, besides the
   * transactions (MedRec: a third party's gatekeeper fetch). `run(i)` makes the i-th request and
   * resolves when it is answered (rejects on failure).
   */
  requests?: { name: string; rate: number; run(i: number): Promise<void> }
  /**
   * Transactions the nodes' own keys send during the run, for calls only an authority may make
   * (MedRec: registering an identity): after every `every` sender transactions one goes out, from
   * the nodes in turn; `tx(node, seq)` is node `node`'s seq-th. They count as the workload's.
   */
  authority?: { every: number; tx(node: number, seq: number): TxFields }
}

export interface Workload {
  name: string
  /** One line for `--help` and the report. */
  description: string
  setup(ctx: WorkloadContext): Promise<WorkloadPlan>
  /**
   * Extra `medrec start` arguments for node `index` (e.g. `--gatekeeper` for MedRec flows);
   * `port` is a free TCP port the harness reserved for that node's own service, `account` the
   * node's own keystore account (its authority under PoA, its etherbase under PoW).
   */
  nodeArgs?(index: number, port: number, account: { address: string; passwordFile: string }): string[]
}
