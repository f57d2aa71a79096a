/**
 * The operator screen: the chain head and sync status, the authorities with their sealing turns,
 * proposals and votes, peers, and the node's key figures as charts. It re-reads the node every
 * 2 seconds (one block period at the fastest) and at once after a vote.
 */
import type { JSX } from 'preact'
import { metrics, type MetricsSample } from '../api/index.ts'
import type { ScreenProps } from '../shell/types.ts'
import { authorities, mayNextSeal, nextTurns } from './operator-clique.ts'
import { loadOperatorView, type OperatorView } from './operator-data.ts'
import { MetricsCharts } from './operator-metrics.tsx'
import { usePoll } from './operator-poll.ts'
import { Votes } from './operator-votes.tsx'

const POLL_MS = 2000

const when = (unix: number): string => new Date(unix * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')

function Addr(props: { a: string; self: string }): JSX.Element {
  return (
    <>
      <code class="mono">{props.a}</code>
      {props.a.toLowerCase() === props.self.toLowerCase() ? ' (this node)' : ''}
    </>
  )
}

function ChainSection(props: { v: OperatorView; self: string }): JSX.Element {
  const { v } = props
  const sealer = v.clique?.snapshot.recents[String(v.head.number)] ?? v.head.miner
  return (
    <section class="card" aria-labelledby="op-chain">
      <h2 id="op-chain">Chain</h2>
      <dl>
        <dt>Head block</dt>
        <dd>
          <span aria-label="Head block number">{v.head.number}</span> at {when(v.head.timestamp)}, {v.head.transactions} transaction{v.head.transactions === 1 ? '' : 's'}
          <br />
          <code class="mono muted">{v.head.hash}</code>
        </dd>
        <dt>{v.clique === undefined ? 'Mined by' : 'Sealed by'}</dt>
        <dd>
          <Addr a={sealer} self={props.self} />
        </dd>
        <dt>Sync status</dt>
        <dd role="status" aria-label="Sync status">
          {v.syncing === false ? (
            <span class="ok">In sync</span>
          ) : (
            <span class="warn">
              Syncing: block {v.syncing.currentBlock} of {v.syncing.highestBlock} (from {v.syncing.startingBlock})
            </span>
          )}
        </dd>
        <dt>Peers</dt>
        <dd>{v.peerCount}</dd>
        <dt>Transaction pool</dt>
        <dd>{v.pool === undefined ? 'not available' : `${v.pool.pending} pending, ${v.pool.queued} queued`}</dd>
        <dt>Chain id</dt>
        <dd>{v.chainId}</dd>
      </dl>
    </section>
  )
}

function AuthoritiesSection(props: { v: OperatorView; self: string }): JSX.Element {
  const c = props.v.clique
  if (c === undefined) {
    return (
      <section class="card" aria-labelledby="op-auth">
        <h2 id="op-auth">Authorities</h2>
        <p>This chain runs proof of work: blocks are mined, and there are no authorities to vote on.</p>
      </section>
    )
  }
  const head = props.v.head.number
  const signers = authorities(c.snapshot)
  const turns = nextTurns(signers, head, Math.min(5, Math.max(1, signers.length)))
  const activity = new Map(Object.entries(c.status.sealerActivity).map(([k, n]) => [k.toLowerCase(), n]))
  return (
    <section class="card" aria-labelledby="op-auth">
      <h2 id="op-auth">Authorities</h2>
      <p>
        {signers.length} authorit{signers.length === 1 ? 'y' : 'ies'}; {Math.round(c.status.inturnPercent)}% of the last {c.status.numBlocks} blocks were sealed in turn.
      </p>
      <div class="scroll">
        <table class="data" aria-label="Authorities">
          <thead>
            <tr>
              <th scope="col">Authority</th>
              <th scope="col">Sealed (last {c.status.numBlocks})</th>
              <th scope="col">Next turn</th>
              <th scope="col">May seal</th>
            </tr>
          </thead>
          <tbody>
            {signers.map((a, i) => {
              const next = head + 1 + ((i - ((head + 1) % signers.length) + signers.length) % signers.length)
              const wait = mayNextSeal(c.snapshot, a, head)
              return (
                <tr key={a}>
                  <th scope="row">
                    <Addr a={a} self={props.self} />
                  </th>
                  <td>{activity.get(a) ?? 0}</td>
                  <td>block {next}</td>
                  <td>{wait === undefined ? 'now' : `from block ${wait} (sealed recently)`}</td>
                </tr>
              )
            })}
          </tbody>
        </table>
      </div>
      <h3>Sealing turns</h3>
      <ol aria-label="Sealing turns">
        {turns.map((t) => (
          <li key={t.block}>
            Block {t.block}: <Addr a={t.signer} self={props.self} />
          </li>
        ))}
      </ol>
    </section>
  )
}

function PeersSection(props: { v: OperatorView }): JSX.Element {
  const peers = props.v.peers
  return (
    <section class="card" aria-labelledby="op-peers">
      <h2 id="op-peers">Peers</h2>
      {typeof peers === 'string' ? (
        <p class="muted">{peers}</p>
      ) : peers.length === 0 ? (
        <p class="muted">No peers connected.</p>
      ) : (
        <div class="scroll">
          <table class="data" aria-label="Peers">
            <thead>
              <tr>
                <th scope="col">Peer</th>
                <th scope="col">Address</th>
                <th scope="col">Direction</th>
                <th scope="col">Head</th>
              </tr>
            </thead>
            <tbody>
              {peers.map((p) => (
                <tr key={p.id}>
                  <th scope="row">
                    <code class="mono">{p.id}</code>
                  </th>
                  <td>
                    <code class="mono">{p.address}</code>
                  </td>
                  <td>{p.inbound ? 'inbound' : 'outbound'}</td>
                  <td>{p.head ?? 'handshake'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  )
}

export function OperatorScreen(props: ScreenProps): JSX.Element {
  const session = props.session
  const view = usePoll(() => loadOperatorView(props.rpc), POLL_MS, props.fail)
  const samples = usePoll<MetricsSample[]>(async () => (session.kind === 'node' ? (await metrics(session.token)).samples : []), POLL_MS, props.fail)
  const v = view.value
  return (
    <div class="screen">
      <h1>Operator</h1>
      {session.kind !== 'node' ? (
        <p class="warn">The operator's methods (peers, votes, the pool, metrics) need this node's account: sign in with a link from `medrec ui signin`.</p>
      ) : null}
      {v === undefined ? (
        <p aria-busy="true">Reading the node…</p>
      ) : (
        <>
          <ChainSection v={v} self={session.account} />
          <AuthoritiesSection v={v} self={session.account} />
          {v.clique !== undefined ? <Votes screen={props} snapshot={v.clique.snapshot} proposals={v.clique.proposals} changed={view.refresh} /> : null}
          <PeersSection v={v} />
        </>
      )}
      <MetricsCharts samples={samples.value ?? []} />
    </div>
  )
}
