import { useCallback, useEffect, useMemo, useState } from 'preact/hooks'
import { followNotifications, type FetchResult, type Notification, type RelationshipView } from '../api/index.ts'
import { RecordCard } from '../fhir/render.tsx'
import { useSubmit } from '../shell/submit.ts'
import type { ScreenProps } from '../shell/types.ts'
import { Audit } from './patient-audit.tsx'
import { patientData, queryOf, STATUS_WORDS, type PatientData } from './patient-data.ts'
import { Grants, Share } from './patient-share.tsx'

/** The patient's screen (MedRec 2.0's User Client): relationships, notifications, records, sharing, audit. */
export function PatientScreen(props: ScreenProps) {
  const { session, rpc, fail } = props
  const data = useMemo(() => patientData(session, rpc), [session, rpc])
  const [rels, setRels] = useState<RelationshipView[] | undefined>()
  const [records, setRecords] = useState<Record<string, FetchResult>>({})
  const [names, setNames] = useState<Record<string, string>>({})
  const [noSummary, setNoSummary] = useState<string | undefined>()

  const refresh = useCallback(async () => {
    try {
      const list = await data.relationships()
      setRels(list)
      setNoSummary(undefined)
      for (const a of new Set(list.map((r) => r.provider.toLowerCase()))) {
        void data.identityOf(a).then((id) => id === undefined || setNames((n) => ({ ...n, [a]: id })), () => undefined)
      }
    } catch (err) {
      // An account no authority registered yet has no Summary: a state to explain, not an error.
      if (err instanceof Error && /has no Summary/.test(err.message)) {
        setRels([])
        setNoSummary(session.account)
      } else fail(err)
    }
  }, [data, fail, session])
  useEffect(() => void refresh(), [refresh])

  return (
    <>
      <h1>My records</h1>
      <Notifications {...props} onChange={refresh} />
      <section class="card" aria-labelledby="pt-rels">
        <h2 id="pt-rels">My relationships</h2>
        <div class="row">
          <button type="button" onClick={() => void refresh()}>
            Refresh relationships
          </button>
        </div>
        {rels === undefined ? (
          <p>Loading your relationships from the chain…</p>
        ) : noSummary !== undefined ? (
          <p class="banner info">
            No identity is registered for your account <span class="mono">{noSummary}</span> yet, so no provider can link records to you. Ask your provider to add you as a
            patient (with this address); a person you share with needs the same. Then choose “Refresh relationships”.
          </p>
        ) : rels.length === 0 ? (
          <p>No provider has added you yet. When one does, it appears here for you to accept.</p>
        ) : (
          <ul class="plain">
            {rels.map((r) => (
              <li key={r.relationship}>
                <Relationship {...props} data={data} rel={r} providerName={names[r.provider.toLowerCase()]} onChange={refresh} onRecords={(res) => setRecords((m) => ({ ...m, [r.relationship]: res }))} />
              </li>
            ))}
          </ul>
        )}
      </section>
      <Records records={records} names={names} rels={rels ?? []} />
      {rels === undefined ? null : <Share {...props} data={data} onChange={refresh} rels={rels.filter((r) => r.role === 'patient' && !r.terminated)} />}
      <Audit {...props} data={data} rels={(rels ?? []).filter((r) => r.role === 'patient')} names={names} />
    </>
  )
}

function Notifications({ session, rpc, notify, fail, onChange }: ScreenProps & { onChange: () => Promise<void> }) {
  const [items, setItems] = useState<Notification[]>([])
  const [live, setLive] = useState(false)
  useEffect(() => {
    if (session.kind !== 'node') return
    const stop = new AbortController()
    const seen = new Set<number>()
    const add = (n: Notification, announce: boolean) => {
      if (seen.has(n.id)) return
      seen.add(n.id)
      setItems((list) => [n, ...list].slice(0, 50))
      if (announce) {
        notify(n.message)
        void onChange()
      }
    }
    rpc
      .medrec('medrec_notifications', { since: 0 })
      .then((list) => {
        for (const n of list.slice(-20)) add(n, false)
        // The stream continues after the newest one read here; only those are announced.
        const since = list.reduce((m, n) => Math.max(m, n.id), 0)
        void followNotifications(session.token, (n) => add(n, true), stop.signal, setLive, since)
      })
      .catch(fail)
    return () => stop.abort()
  }, [session, rpc, notify, fail, onChange])
  return (
    <section class="card" aria-labelledby="pt-notes">
      <h2 id="pt-notes">Notifications</h2>
      {session.kind !== 'node' ? (
        <p>Live notifications come from a node's watch service for your account. With a key in this browser, use “Refresh relationships” to see changes.</p>
      ) : (
        <>
          <p class="muted">{live ? 'Live: new notifications appear here as they happen.' : 'Connecting to the node for live notifications…'}</p>
          {items.length === 0 ? (
            <p>No notifications yet.</p>
          ) : (
            <ul class="plain" aria-label="Recent notifications">
              {items.map((n) => (
                <li key={n.id}>
                  <span class={n.kind === 'records-tampered' ? 'bad' : undefined}>{n.message}</span> <span class="muted">{new Date(n.time).toLocaleString()}</span>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  )
}

function describePointers(r: RelationshipView): string {
  const types = r.pointers.map((p) => queryOf(p.query)?.resourceType ?? 'records (query outside the grammar)')
  return types.length === 0 ? 'no records yet' : types.join(', ')
}

function Relationship({
  notify,
  fail,
  confirm,
  data,
  rel,
  providerName,
  onChange,
  onRecords,
}: ScreenProps & { data: PatientData; rel: RelationshipView; providerName: string | undefined; onChange: () => Promise<void>; onRecords: (r: FetchResult) => void }) {
  const { busy, run } = useSubmit(fail)
  const provider = providerName === undefined ? rel.provider : `${providerName} (${rel.provider})`
  const pending = rel.role === 'patient' && (rel.status === 'awaiting-approval' || rel.status === 'update-pending')
  const now = Date.now() / 1000
  const expired = rel.grant !== undefined && rel.grant.expiresAt !== 0 && rel.grant.expiresAt <= now

  async function decide(accept: boolean) {
    const ok = await confirm({
      title: `${accept ? 'Accept' : 'Reject'} the relationship with ${providerName ?? rel.provider}`,
      lines: [
        accept
          ? `You approve ${provider} keeping records about you (${describePointers(rel)}) and their latest version. Your node then fetches them and checks them against the chain.`
          : `You refuse the records ${provider} linked to you (${describePointers(rel)}). The provider is told on the chain.`,
        `This signs a transaction to your Summary contract for relationship ${rel.relationship}.`,
      ],
      signer: data.signer,
    })
    if (!ok) return
    await run(async () => {
      const tx = await data.decide(rel.relationship, accept)
      notify(`${accept ? 'Accepted' : 'Rejected'} the relationship with ${providerName ?? rel.provider} (transaction ${tx.slice(0, 10)}…).`)
      await onChange()
    })
  }

  async function remove() {
    const ok = await confirm({
      title: `Delete the relationship with ${providerName ?? rel.provider}`,
      lines: [`Relationship ${rel.relationship} leaves your list (your Summary marks it deleted; the chain keeps the history). The provider keeps its records.`, 'This signs a transaction to your Summary contract.'],
      signer: data.signer,
    })
    if (!ok) return
    await run(async () => {
      await data.remove(rel.relationship)
      notify(`Deleted the relationship with ${providerName ?? rel.provider}.`)
      await onChange()
    })
  }

  const fetchRecords = () =>
    run(async () => {
      const res = await data.fetch(rel.relationship)
      onRecords(res)
      const bad = res.pointers.filter((p) => p.status === 'tampered').length
      notify(bad === 0 ? `Fetched ${res.pointers.length} record set(s) from ${providerName ?? rel.provider}: verified against the chain.` : `Warning: ${bad} record set(s) from ${providerName ?? rel.provider} do not match the chain.`)
    })

  return (
    <div role="region" aria-label={`Relationship ${rel.relationship}`}>
      <h3>{rel.role === 'patient' ? `Records kept by ${providerName ?? rel.provider}` : `Shared with you by ${rel.patient}`}</h3>
      <p>
        Status: <strong class={rel.status === 'accepted' ? 'ok' : pending ? 'warn' : 'muted'}>{STATUS_WORDS[rel.status] ?? rel.status}</strong>
        {rel.terminated ? <strong class="bad"> · ended by a party</strong> : null}
      </p>
      <p>
        Records: {describePointers(rel)}
        {rel.cached.length > 0 ? (
          <span>
            {' '}
            · last fetched{' '}
            {rel.cached.some((c) => c.status === 'tampered') ? <span class="bad">with a tampered set</span> : <span class="ok">and verified</span>}{' '}
            {new Date(Math.max(...rel.cached.map((c) => c.fetchedAt))).toLocaleString()}
          </span>
        ) : null}
      </p>
      <p class="muted mono">Relationship {rel.relationship} · provider {rel.provider}</p>
      {rel.grant === undefined ? null : (
        <p>
          Your access:{' '}
          {expired ? (
            <strong class="bad">Expired on {new Date(rel.grant.expiresAt * 1000).toLocaleString()}</strong>
          ) : !rel.grant.active ? (
            <strong class="bad">Revoked or not active</strong>
          ) : (
            <strong class="ok">Active{rel.grant.expiresAt === 0 ? ', no expiry' : ` until ${new Date(rel.grant.expiresAt * 1000).toLocaleString()}`}</strong>
          )}
        </p>
      )}
      <div class="row">
        {pending ? (
          <>
            <button type="button" class="primary" disabled={busy} onClick={() => void decide(true)}>
              Accept
            </button>
            <button type="button" class="danger" disabled={busy} onClick={() => void decide(false)}>
              Reject
            </button>
          </>
        ) : null}
        {!rel.terminated && (rel.role === 'patient' ? rel.status === 'accepted' || rel.status === 'update-pending' : rel.grant?.active === true && !expired) ? (
          <button type="button" disabled={busy} onClick={() => void fetchRecords()}>
            Fetch records
          </button>
        ) : null}
        {rel.status !== 'deleted' ? (
          <button type="button" class="danger" disabled={busy} onClick={() => void remove()}>
            Delete
          </button>
        ) : null}
      </div>
      {rel.role === 'patient' && rel.status === 'accepted' ? <Grants data={data} rel={rel} notify={notify} fail={fail} confirm={confirm} /> : null}
    </div>
  )
}

function Records({ records, names, rels }: { records: Record<string, FetchResult>; names: Record<string, string>; rels: RelationshipView[] }) {
  const entries = Object.entries(records)
  return (
    <section class="card" aria-labelledby="pt-records">
      <h2 id="pt-records">Records</h2>
      {entries.length === 0 ? <p>Choose “Fetch records” on a relationship to read its records here.</p> : null}
      {entries.map(([rel, res]) => {
        const r = rels.find((x) => x.relationship === rel)
        const who = r === undefined ? rel : (names[r.provider.toLowerCase()] ?? r.provider)
        return (
          <div key={rel}>
            <h3>From {who}</h3>
            {res.pointers.length === 0 ? <p>No records you may read.</p> : null}
            {res.pointers.map((p) => {
              const q = r?.pointers.find((x) => x.pointerId === p.pointerId)
              const query = q === undefined ? undefined : queryOf(q.query)
              const partial = q !== undefined && p.fields.length < q.fieldCount
              return (
                <div key={p.pointerId} role="group" aria-label={`${query?.resourceType ?? 'Records'} (pointer ${p.pointerId})`}>
                  <h4>
                    {query?.resourceType ?? 'Records'} · version {p.version}
                  </h4>
                  {p.status === 'verified' ? (
                    <p class="verified">✔ Verified against the chain</p>
                  ) : (
                    <p class="tampered" role="alert">
                      Tampered: these records do not match the chain. The provider's copy differs from what it committed to; do not rely on them.
                    </p>
                  )}
                  {partial ? <p class="muted">Only some fields were shared with you: {p.fields.map((f) => query?.fields[f] ?? `field ${f}`).join(', ')}.</p> : null}
                  {p.bundle.entry.length === 0 ? <p>No records of this kind.</p> : p.bundle.entry.map((e) => <RecordCard key={e.resource.id} resource={e.resource} />)}
                </div>
              )
            })}
          </div>
        )
      })}
    </section>
  )
}
