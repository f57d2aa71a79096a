import { useCallback, useEffect, useState } from 'preact/hooks'
import { readClient, type ConsentRequest, type GatekeeperInfo } from '../api/index.ts'
import { useSubmit } from '../shell/submit.ts'
import type { ScreenProps } from '../shell/types.ts'
import { queryOf } from './patient-data.ts'
import type { ProviderRelationship } from './provider-data.ts'

type Props = ScreenProps & { info: GatekeeperInfo | undefined; rels: ProviderRelationship[] | undefined; onDone: () => Promise<void> }

/** Who signs a provider's relationship transaction, in words. */
export function stewardWords(info: GatekeeperInfo | undefined, account: string): string {
  return `this node's gatekeeper (${info?.account ?? account}) with the relationship's provider account, whose key only it holds`
}

/**
 * Grants that wait for this provider's consent (medrec_consentRequests), each with an Approve
 * button (medrec_approve): the approval names the grant shown, so a grant the patient widened
 * since is refused by the node and needs its own approval.
 */
export function ConsentRequests({ rpc, notify, fail, confirm, session, info, rels, onDone }: Props) {
  const [list, setList] = useState<ConsentRequest[] | undefined>()
  const [who, setWho] = useState<Record<string, string>>({})
  const { busy, run } = useSubmit(fail)

  const load = useCallback(async () => {
    try {
      const got = await rpc.medrec('medrec_consentRequests')
      setList(got)
      const client = readClient(rpc)
      for (const v of new Set(got.map((c) => c.viewer))) void client.registrar.identityOf(v).then((id) => id === undefined || setWho((m) => ({ ...m, [v]: id })), () => undefined)
    } catch (err) {
      fail(err)
    }
  }, [rpc, fail])
  // Re-read whenever the relationships were re-read (after a change on this screen or "Refresh list").
  useEffect(() => void load(), [load, rels])

  const describe = (c: ConsentRequest): { patient: string; viewer: string; what: string; until: string } => {
    const rel = rels?.find((r) => r.relationship === c.relationship)
    const what = c.items
      .map((i) => {
        const q = queryOf(rel?.pointers.find((p) => p.pointerId === i.pointerId)?.query ?? '')
        return `${q?.resourceType ?? `pointer ${i.pointerId}`} (${i.fields.map((f) => q?.fields[f] ?? `field ${f}`).join(', ')})`
      })
      .join('; ')
    return { patient: rel?.identity ?? c.patient, viewer: who[c.viewer] ?? c.viewer, what, until: c.expiresAt === 0 ? 'with no expiry' : `until ${new Date(c.expiresAt * 1000).toLocaleDateString()}` }
  }

  async function approve(c: ConsentRequest) {
    const d = describe(c)
    const ok = await confirm({
      title: `Approve sharing ${d.patient}'s records with ${d.viewer}`,
      lines: [
        `${d.patient} shares ${d.what} with ${d.viewer} ${d.until}. This relationship needs your consent, so ${d.viewer} reads nothing until you approve.`,
        `This signs a transaction approving grant ${c.grantId} on relationship ${c.relationship}. It covers that grant only: if ${d.patient} changes what she shares, the new grant needs a new approval.`,
      ],
      signer: stewardWords(info, session.account),
    })
    if (!ok) return
    await run(async () => {
      await rpc.medrec('medrec_approve', { relationship: c.relationship, viewer: c.viewer, grantId: c.grantId })
      notify(`Approved: ${d.viewer} may now read what ${d.patient} shared.`)
      await onDone()
    })
  }

  return (
    <section class="card" aria-labelledby="pv-consent">
      <h2 id="pv-consent">Consent requests</h2>
      <p>A patient's share on a relationship that requires this provider's consent waits here until it is approved (“Require consent” in the list above turns the rule on for a relationship).</p>
      {list === undefined ? (
        <p>Reading the grants that wait for consent…</p>
      ) : list.length === 0 ? (
        <p>No grant is waiting for consent.</p>
      ) : (
        <ul class="plain">
          {list.map((c) => {
            const d = describe(c)
            return (
              <li key={`${c.relationship}:${c.viewer}:${c.grantId}`}>
                {d.patient} shares {d.what} with {d.viewer} {d.until}.{' '}
                <button type="button" class="primary" disabled={busy} aria-label={`Approve sharing with ${d.viewer}`} onClick={() => void approve(c)}>
                  Approve
                </button>
              </li>
            )
          })}
        </ul>
      )}
    </section>
  )
}
