import { useEffect, useState } from 'preact/hooks'
import type { RelationshipView } from '../api/index.ts'
import type { GrantState } from '../../../contracts/client/index.ts'
import type { ScreenProps } from '../shell/types.ts'
import { queryOf, type PatientData } from './patient-data.ts'

type Actions = Pick<ScreenProps, 'notify' | 'fail' | 'confirm'>

const ADDRESS = /^0x[0-9a-fA-F]{40}$/

function expiryWords(g: GrantState): string {
  if (g.expiresAt === 0) return 'no expiry'
  const d = new Date(g.expiresAt * 1000).toLocaleString()
  return g.expiresAt * 1000 <= Date.now() ? `expired on ${d}` : `until ${d}`
}

/** Who may read this relationship's records, with a Revoke button for each active grant. */
export function Grants({ data, rel, notify, fail, confirm }: Actions & { data: PatientData; rel: RelationshipView }) {
  const [grants, setGrants] = useState<Awaited<ReturnType<PatientData['grants']>> | undefined>()
  const [tick, setTick] = useState(0)
  const [consent, setConsent] = useState(false)
  useEffect(() => {
    data.grants(rel.relationship).then(setGrants, fail)
    data.consentRequired(rel.relationship).then(setConsent, () => setConsent(false))
  }, [data, rel, tick, fail])
  if (grants === undefined || grants.length === 0) return null

  async function revoke(viewer: string, name: string) {
    const ok = await confirm({
      title: `Revoke ${name}'s access`,
      lines: [`${name} can no longer read any records of relationship ${rel.relationship}; their node deletes the copy it holds.`, 'This signs a transaction to the relationship contract.'],
      signer: data.signer,
    })
    if (!ok) return
    try {
      await data.revoke(rel.relationship, viewer)
      notify(`Revoked ${name}'s access.`)
      setTick((t) => t + 1)
    } catch (err) {
      fail(err)
    }
  }

  return (
    <div>
      <h4>Shared with</h4>
      <ul class="plain">
        {grants.map(({ viewer, identity, grant }) => {
          const name = identity ?? viewer
          const expired = grant.expiresAt !== 0 && grant.expiresAt * 1000 <= Date.now()
          return (
            <li key={viewer}>
              <span>{name}</span>{' '}
              {!grant.active && !expired ? (
                <span class="muted">revoked</span>
              ) : expired ? (
                <span class="bad">{expiryWords(grant)}</span>
              ) : (
                <span class="ok">can read {grant.items.reduce((n, i) => n + i.fields.length, 0)} field(s), {expiryWords(grant)}</span>
              )}
              {consent && grant.active && !grant.providerApproved ? <span class="warn"> · waiting for the provider's consent</span> : null}{' '}
              {grant.active ? (
                <button type="button" class="danger" onClick={() => void revoke(viewer, name)}>
                  Revoke {name}
                </button>
              ) : null}
            </li>
          )
        })}
      </ul>
    </div>
  )
}

/** The date input's day as unix seconds at the end of that day, local time (so "expires on the 5th" includes the 5th). */
function endOfDay(date: string): number {
  const [y, m, d] = date.split('-').map(Number)
  return Math.floor(new Date(y!, m! - 1, d!, 23, 59, 59).getTime() / 1000)
}

/** Share a subset with someone: the person by identity (Registrar), record types and fields ticked, an expiry date. */
export function Share({ data, rels, notify, fail, confirm, onChange }: Actions & { data: PatientData; rels: RelationshipView[]; onChange: () => Promise<void> }) {
  const [relationship, setRelationship] = useState('')
  const [identity, setIdentity] = useState('')
  const [viewer, setViewer] = useState<{ address: string; identity: string } | undefined>()
  const [ticked, setTicked] = useState<Set<string>>(new Set())
  const [expires, setExpires] = useState('')
  const [consent, setConsent] = useState(false)
  const rel = rels.find((r) => r.relationship === relationship) ?? rels[0]
  const today = new Date().toISOString().slice(0, 10)

  useEffect(() => {
    if (rel !== undefined) data.consentRequired(rel.relationship).then(setConsent, () => setConsent(false))
  }, [data, rel])

  if (rels.length === 0) {
    return (
      <section class="card" aria-labelledby="pt-share">
        <h2 id="pt-share">Share records</h2>
        <p>You can share records once a provider has added you.</p>
      </section>
    )
  }

  async function lookUp() {
    setViewer(undefined)
    const id = identity.trim()
    try {
      if (ADDRESS.test(id)) return setViewer({ address: id, identity: (await data.identityOf(id)) ?? id })
      const address = await data.resolve(id)
      if (address === undefined) return fail(new Error(`no one is registered as “${id}”: check the spelling, or ask the person for the identity their provider registered`))
      setViewer({ address, identity: id })
    } catch (err) {
      fail(err)
    }
  }

  const toggle = (key: string) => setTicked((s) => (s.has(key) ? new Set([...s].filter((k) => k !== key)) : new Set([...s, key])))

  async function share(e: Event) {
    e.preventDefault()
    if (rel === undefined || viewer === undefined) return fail(new Error('look up the person you share with first'))
    const items = rel.pointers
      .map((p) => ({ pointerId: p.pointerId, fields: [...ticked].filter((k) => k.startsWith(`${p.pointerId}:`)).map((k) => Number(k.split(':')[1])) }))
      .filter((i) => i.fields.length > 0)
    if (items.length === 0) return fail(new Error('tick at least one field to share'))
    const expiresAt = expires === '' ? 0 : endOfDay(expires)
    const what = items.map((i) => {
      const q = queryOf(rel.pointers.find((p) => p.pointerId === i.pointerId)?.query ?? '')
      return `${q?.resourceType ?? `pointer ${i.pointerId}`}: ${i.fields.map((f) => q?.fields[f] ?? `field ${f}`).join(', ')}`
    })
    const ok = await confirm({
      title: `Share records with ${viewer.identity}`,
      lines: [
        `${viewer.identity} (${viewer.address}) may read, from relationship ${rel.relationship}: ${what.join('; ')}.`,
        expiresAt === 0 ? 'The grant has no expiry: it lasts until you revoke it.' : `The grant expires at the end of ${expires}.`,
        ...(consent ? ['The provider must consent before this person can read (this relationship requires it).'] : []),
        'This replaces any earlier grant to this person and signs a transaction to the relationship contract.',
      ],
      signer: data.signer,
    })
    if (!ok) return
    try {
      await data.share(rel.relationship, viewer.address, items, expiresAt)
      notify(`Shared ${what.length} record type(s) with ${viewer.identity}.`)
      setTicked(new Set())
      await onChange()
    } catch (err) {
      fail(err)
    }
  }

  return (
    <section class="card" aria-labelledby="pt-share">
      <h2 id="pt-share">Share records</h2>
      <form onSubmit={(e) => void share(e)}>
        <label for="sh-rel">Relationship</label>
        <select id="sh-rel" value={rel?.relationship} onChange={(e) => (setRelationship(e.currentTarget.value), setTicked(new Set()))}>
          {rels.map((r) => (
            <option key={r.relationship} value={r.relationship}>
              {r.provider} · {r.relationship}
            </option>
          ))}
        </select>
        <label for="sh-id">Person's MedRec identity</label>
        <div class="row">
          <input id="sh-id" type="text" autocomplete="off" value={identity} onInput={(e) => setIdentity(e.currentTarget.value)} aria-describedby="sh-id-help" />
          <button type="button" onClick={() => void lookUp()} disabled={identity.trim() === ''}>
            Look up
          </button>
        </div>
        <p id="sh-id-help" class="muted">
          The identity the person's provider registered (or their account address).
        </p>
        {viewer === undefined ? null : (
          <p role="status">
            Found: <strong>{viewer.identity}</strong> <span class="mono">{viewer.address}</span>
          </p>
        )}
        {rel?.pointers.map((p) => {
          const q = queryOf(p.query)
          if (q === undefined) return null
          return (
            <fieldset key={p.pointerId}>
              <legend>{q.resourceType}</legend>
              {q.fields.map((f, i) => (
                <label key={f} class="inline">
                  <input type="checkbox" checked={ticked.has(`${p.pointerId}:${i}`)} onChange={() => toggle(`${p.pointerId}:${i}`)} />
                  {q.resourceType}: {f}
                </label>
              ))}
            </fieldset>
          )
        })}
        <label for="sh-exp">Expires on</label>
        <input id="sh-exp" type="date" min={today} value={expires} onInput={(e) => setExpires(e.currentTarget.value)} aria-describedby="sh-exp-help" />
        <p id="sh-exp-help" class="muted">
          Leave empty for no expiry. The grant ends at the end of that day.
        </p>
        {consent ? <p class="warn">This provider requires its consent to each grant: the person can read once the provider approves.</p> : null}
        <button type="submit" class="primary" disabled={viewer === undefined || ticked.size === 0}>
          Share
        </button>
      </form>
    </section>
  )
}
