/**
 * The researcher screen: the bounties this node's account owns (the record updates in blocks it
 * sealed or mined), collecting one (a signed request to the provider's gatekeeper, answered once
 * with k-anonymous cells signed by the provider), the collected aggregates as tables and bar
 * charts, and the whole dataset as a CSV file made in the browser.
 */
import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { RpcError } from '../api/index.ts'
import type { ScreenProps } from '../shell/types.ts'
import { BarChart } from '../charts.tsx'
import type { BountyResult, BountyView } from '../../../gatekeeper/api.ts'
import { usePoll } from './operator-poll.ts'
import { bountiesCsv, describeBountyQuery, groupLabel } from './researcher-csv.ts'

const POLL_MS = 5000
export const CSV_FILE = 'medrec-bounties.csv'

const when = (unix: number): string => new Date(unix * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')

/** Saves `text` as a file through a Blob URL: the data never leaves the browser again. */
function download(text: string, name: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }))
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.append(a)
  a.click()
  a.remove()
  // The click starts the download synchronously; the URL is released once it has been read.
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

function BountyTable(props: { bounties: BountyView[]; busy: number | undefined; collect(b: BountyView): void }): JSX.Element {
  if (props.bounties.length === 0) {
    return <p class="muted">This account owns no bounties yet: a bounty belongs to the author of the block that included a provider's record update.</p>
  }
  return (
    <div class="scroll">
      <table class="data" aria-label="Bounties">
        <thead>
          <tr>
            <th scope="col">Bounty</th>
            <th scope="col">Asks for</th>
            <th scope="col">Block</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {props.bounties.map((b) => (
            <tr key={b.index}>
              <th scope="row">{b.index}</th>
              <td>
                {describeBountyQuery(b.query)}
                <br />
                <span class="muted">
                  pointer {b.pointerId} of <code class="mono">{b.relationship}</code>
                </span>
              </td>
              <td>
                {b.blockNumber}
                <br />
                <span class="muted">{when(b.timestamp)}</span>
              </td>
              <td>
                {b.collected ? (
                  <span class="ok">Collected</span>
                ) : (
                  <button type="button" class="primary" disabled={props.busy !== undefined} aria-busy={props.busy === b.index} onClick={() => props.collect(b)}>
                    Collect bounty {b.index}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function Result(props: { r: BountyResult; query: string | undefined }): JSX.Element {
  const { r } = props
  const signed = r.signer.toLowerCase() === r.provider.toLowerCase()
  const keys = [...new Set(r.cells.flatMap((c) => Object.keys(c.group)))].sort()
  const title = `Bounty ${r.index}${props.query === undefined ? '' : `: ${describeBountyQuery(props.query)}`}`
  return (
    <article class="card" aria-labelledby={`bounty-${r.index}`}>
      <h3 id={`bounty-${r.index}`}>{title}</h3>
      <p>
        {signed ? <span class="ok">Signed by the provider</span> : <span class="bad">NOT signed by the provider (signed by {r.signer}): do not rely on it</span>}{' '}
        <code class="mono">{r.provider}</code>. Computed {when(r.computedAt)}; cells of fewer than k={r.k} patients withheld: {r.suppressed}.
      </p>
      {r.repeats !== undefined ? (
        <p class="warn">
          This answer repeats bounty {r.repeats.index} (block {r.repeats.blockNumber}): the query's patients changed by fewer than k since that release.
        </p>
      ) : null}
      {r.cells.length === 0 ? (
        <p class="muted">No cells released: every group had fewer than k={r.k} patients.</p>
      ) : (
        // Table and chart side by side on a wide screen, one above the other on a phone.
        <div class="grid">
          <div class="scroll">
            <table class="data">
              <caption>{`Aggregates of bounty ${r.index}`}</caption>
              <thead>
                <tr>
                  {keys.map((k) => (
                    <th scope="col" key={k}>
                      {k}
                    </th>
                  ))}
                  <th scope="col">patients</th>
                  <th scope="col">records</th>
                  <th scope="col">value</th>
                </tr>
              </thead>
              <tbody>
                {r.cells.map((c, i) => (
                  <tr key={i}>
                    {keys.map((k) => (
                      <td key={k}>{c.group[k] === undefined || c.group[k] === null ? '' : String(c.group[k])}</td>
                    ))}
                    <td>{c.patients}</td>
                    <td>{c.records}</td>
                    <td>{c.value ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <BarChart
            title={`Bounty ${r.index}: value by group`}
            categoryLabel={keys.length === 0 ? 'group' : keys.join(', ')}
            valueLabel="value"
            bars={r.cells.filter((c) => c.value !== null).map((c) => ({ label: groupLabel(c.group), value: c.value! }))}
          />
        </div>
      )}
    </article>
  )
}

export function ResearcherScreen(props: ScreenProps): JSX.Element {
  const [busy, setBusy] = useState<number | undefined>(undefined)
  // One read for both lists; a node without a gatekeeper has no medrec_* methods, which is a state to explain, not an error.
  const data = usePoll(
    async () => {
      try {
        const [bounties, results] = await Promise.all([props.rpc.medrec('medrec_bounties'), props.rpc.medrec('medrec_collectedBounties')])
        return { bounties, results }
      } catch (err) {
        if (err instanceof RpcError && err.code === -32601) return undefined
        throw err
      }
    },
    POLL_MS,
    props.fail,
  )
  const noGatekeeper = data.value === undefined && data.error === undefined && data.loaded
  const bounties = data.value?.bounties
  const queries = new Map((bounties ?? []).map((b) => [b.index, b.query]))

  const collect = async (b: BountyView): Promise<void> => {
    const ok = await props.confirm({
      title: `Collect bounty ${b.index}`,
      lines: [
        `This node's account signs a request to the provider's gatekeeper for bounty ${b.index}: ${describeBountyQuery(b.query)}.`,
        'The provider answers once, with counts over at least k patients each and its signature; no record and no patient is sent.',
      ],
      signer: props.session.account,
    })
    if (!ok) return
    setBusy(b.index)
    try {
      const r = await props.rpc.medrec('medrec_collectBounty', { index: b.index })
      props.notify(`Bounty ${b.index} collected: ${r.cells.length} cell${r.cells.length === 1 ? '' : 's'} released, ${r.suppressed} withheld.`)
      data.refresh()
    } catch (err) {
      props.fail(err)
    } finally {
      setBusy(undefined)
    }
  }

  const collected = data.value?.results ?? []
  if (noGatekeeper) {
    return (
      <div class="screen">
        <h1>Researcher</h1>
        <p class="warn">This node runs no gatekeeper, so it has no account to own or collect bounties: start it with `--gatekeeper` (see docs/gatekeeper.md).</p>
      </div>
    )
  }
  return (
    <div class="screen">
      <h1>Researcher</h1>
      <section class="card" aria-labelledby="rs-bounties">
        <h2 id="rs-bounties">Bounties you own</h2>
        {bounties === undefined ? <p aria-busy="true">Reading the bounties…</p> : <BountyTable bounties={bounties} busy={busy} collect={(b) => void collect(b)} />}
      </section>
      <section class="card" aria-labelledby="rs-results">
        <h2 id="rs-results">Collected aggregates</h2>
        <div class="row">
          <button type="button" disabled={collected.length === 0} onClick={() => download(bountiesCsv(collected), CSV_FILE)}>
            Export CSV
          </button>
          <span class="muted">One row per released cell of every collected bounty, as `medrec bounty export --csv` writes it.</span>
        </div>
        {collected.length === 0 ? <p class="muted">Nothing collected yet.</p> : collected.map((r) => <Result key={r.index} r={r} query={queries.get(r.index)} />)}
      </section>
    </div>
  )
}
