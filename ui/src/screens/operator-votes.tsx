/**
 * The operator's "Proposals and votes" section: propose adding or removing an authority
 * (clique_propose), this node's open proposals with a discard button each (clique_discard), and
 * the votes cast on chain since the last checkpoint with their tally against the majority needed.
 * A proposal is not a transaction: this node's authority key casts it in the headers it seals until
 * it passes or is discarded, which is what the confirmation dialog says.
 */
import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { useSubmit } from '../shell/submit.ts'
import type { ScreenProps } from '../shell/types.ts'
import { votesNeeded, type CliqueSnapshot } from './operator-clique.ts'

const ADDRESS = /^0x[0-9a-fA-F]{40}$/

export interface VotesProps {
  screen: ScreenProps
  snapshot: CliqueSnapshot
  proposals: Record<string, boolean>
  /** Re-read the node after a change. */
  changed(): void
}

export function Votes(props: VotesProps): JSX.Element {
  const { screen, snapshot, proposals } = props
  const [address, setAddress] = useState('')
  const [authorize, setAuthorize] = useState(true)
  const { busy, run } = useSubmit(screen.fail)
  const [invalid, setInvalid] = useState('')
  const needed = votesNeeded(snapshot)
  const isAuthority = (a: string): boolean => Object.keys(snapshot.signers).some((s) => s.toLowerCase() === a.toLowerCase())

  const propose = async (e: Event): Promise<void> => {
    e.preventDefault()
    const a = address.trim()
    if (!ADDRESS.test(a)) {
      setInvalid('Enter an account address: 0x followed by 40 hexadecimal digits.')
      return
    }
    if (authorize === isAuthority(a)) {
      setInvalid(authorize ? `${a} is an authority already.` : `${a} is not an authority.`)
      return
    }
    setInvalid('')
    const ok = await screen.confirm({
      title: authorize ? `Vote to add ${a} as an authority` : `Vote to remove ${a} from the authorities`,
      lines: [
        `This node's authority key will cast a vote to ${authorize ? 'add' : 'remove'} ${a} ${authorize ? 'as an authority' : 'from the authorities'} in every block it seals.`,
        `The change happens when ${needed} of the ${Object.keys(snapshot.signers).length} authorities have voted the same way; discard the vote to stop casting it.`,
      ],
      signer: screen.session.account,
    })
    if (!ok) return
    await run(async () => {
      await screen.rpc.call('clique_propose', [a, authorize])
      screen.notify(`Vote proposed: ${authorize ? 'add' : 'remove'} ${a}.`)
      setAddress('')
      props.changed()
    })
  }

  const discard = (a: string): Promise<void> =>
    run(async () => {
      await screen.rpc.call('clique_discard', [a])
      screen.notify(`Vote on ${a} discarded.`)
      props.changed()
    })

  const open = Object.entries(proposals)
  return (
    <section class="card" aria-labelledby="op-votes">
      <h2 id="op-votes">Proposals and votes</h2>
      <form onSubmit={(e) => void propose(e)} noValidate>
        <label for="op-vote-address">Authority address</label>
        <input id="op-vote-address" type="text" inputMode="text" autoComplete="off" spellcheck={false} value={address} aria-invalid={invalid !== ''} aria-describedby="op-vote-invalid" onInput={(e) => setAddress(e.currentTarget.value)} />
        <fieldset>
          <legend>Vote</legend>
          <label>
            <input type="radio" name="op-vote-kind" checked={authorize} onChange={() => setAuthorize(true)} /> Add as an authority
          </label>
          <label>
            <input type="radio" name="op-vote-kind" checked={!authorize} onChange={() => setAuthorize(false)} /> Remove from the authorities
          </label>
        </fieldset>
        <p id="op-vote-invalid" class="bad" role={invalid === '' ? undefined : 'alert'}>
          {invalid}
        </p>
        <button type="submit" class="primary" disabled={busy}>
          Propose
        </button>
      </form>

      <h3>This node's proposals</h3>
      {open.length === 0 ? (
        <p class="muted">None: this node casts no vote.</p>
      ) : (
        <ul aria-label="This node's proposals">
          {open.map(([a, auth]) => {
            const t = snapshot.tally[a.toLowerCase()] ?? snapshot.tally[a]
            const same = t !== undefined && t.authorize === auth ? t.votes : 0
            return (
              <li key={a}>
                {auth ? 'Add ' : 'Remove '}
                <code class="mono">{a}</code> — {isAuthority(a) === auth ? `done: ${auth ? 'an authority now' : 'no longer an authority'} (nothing left to vote)` : `${same} of ${needed} votes on chain`}{' '}
                {/* The address is in the name, not the visible text: a 42-character word would not wrap at 360 px. */}
                <button type="button" disabled={busy} aria-label={`Discard the vote on ${a}`} onClick={() => void discard(a)}>
                  Discard
                </button>
              </li>
            )
          })}
        </ul>
      )}

      <h3>Votes on chain since the last checkpoint</h3>
      {snapshot.votes.length === 0 ? (
        <p class="muted">No votes are open.</p>
      ) : (
        <div class="scroll">
          <table class="data" aria-label="Votes on chain">
            <thead>
              <tr>
                <th scope="col">Block</th>
                <th scope="col">Voter</th>
                <th scope="col">Vote</th>
                <th scope="col">On</th>
              </tr>
            </thead>
            <tbody>
              {snapshot.votes.map((v) => (
                <tr key={`${v.block}-${v.signer}`}>
                  <td>{v.block}</td>
                  <td>
                    <code class="mono">{v.signer}</code>
                  </td>
                  <td>{v.authorize ? 'add' : 'remove'}</td>
                  <td>
                    <code class="mono">{v.address}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  )
}
