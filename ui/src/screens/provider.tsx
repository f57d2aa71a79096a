import { useCallback, useEffect, useState } from 'preact/hooks'
import { RpcError, type GatekeeperInfo } from '../api/index.ts'
import { useSubmit } from '../shell/submit.ts'
import type { ScreenProps } from '../shell/types.ts'
import { queryOf, STATUS_WORDS } from './patient-data.ts'
import { providerRelationships, LIST_LIMIT, type ProviderRelationship } from './provider-data.ts'
import { AddPatient, AddRecord } from './provider-add.tsx'
import { ConsentRequests, stewardWords } from './provider-consent.tsx'
import { Import } from './provider-import.tsx'

/** The provider's screen (MedRec 1.0's EMR Manager): patients and relationships, adding patients and records, imports, consent. */
export function ProviderScreen(props: ScreenProps) {
  const { rpc, fail, notify, confirm, session } = props
  const [info, setInfo] = useState<GatekeeperInfo | undefined>()
  const [rels, setRels] = useState<ProviderRelationship[] | undefined>()
  const [noGatekeeper, setNoGatekeeper] = useState<string | undefined>()
  const { busy, run } = useSubmit(fail)

  const refresh = useCallback(async () => {
    try {
      const i = await rpc.medrec('medrec_gatekeeperInfo')
      setInfo(i)
      setRels(await providerRelationships(rpc, i))
    } catch (err) {
      // A node without --gatekeeper has no medrec_* methods (-32601): say so instead of a raw error.
      if (err instanceof RpcError && err.code === -32601) setNoGatekeeper(err.message)
      else fail(err)
    }
  }, [rpc, fail])
  useEffect(() => void refresh(), [refresh])

  if (noGatekeeper !== undefined) {
    return (
      <>
        <h1>Provider</h1>
        <p class="banner info">
          This node runs no gatekeeper, so it keeps no records to serve. Start it with <span class="mono">--gatekeeper</span> (and an authority account) to act as a provider.
          The node said: {noGatekeeper}
        </p>
      </>
    )
  }

  async function publish() {
    const ok = await confirm({
      title: 'Publish changed records',
      lines: ["For every relationship whose records changed since their hash went on chain, the gatekeeper signs an update with the new hash (and a bounty for the block's author). Patients then see “new records waiting for your approval”."],
      signer: `this node's gatekeeper (${info?.account ?? session.account}) and its per-relationship accounts`,
    })
    if (!ok) return
    await run(async () => {
      const res = await rpc.medrec('medrec_update', {})
      notify(`Published ${res.updated.length} update(s); ${res.unchanged} unchanged${res.outsideGrammar === undefined ? '' : `; ${res.outsideGrammar.length} left alone (query outside the grammar)`}.`)
      await refresh()
    })
  }

  async function requireConsent(r: ProviderRelationship, required: boolean) {
    const patient = r.identity ?? r.patient
    const ok = await confirm({
      title: required ? `Require your consent for ${patient}'s shares` : `Stop requiring your consent for ${patient}'s shares`,
      lines: [
        required
          ? `From now on, a person ${patient} shares these records with reads nothing until you approve that share under “Consent requests”. Shares she made already wait for your approval too.`
          : `${patient}'s shares on this relationship take effect without your approval again, including those waiting under “Consent requests”.`,
        `This signs a transaction to relationship ${r.relationship}.`,
      ],
      signer: stewardWords(info, session.account),
    })
    if (!ok) return
    await run(async () => {
      await rpc.medrec('medrec_requireConsent', { relationship: r.relationship, required })
      notify(required ? `${patient}'s shares now need your consent.` : `${patient}'s shares no longer need your consent.`)
      await refresh()
    })
  }

  const identities = [...new Set((rels ?? []).map((r) => r.identity).filter((x): x is string => x !== undefined))]

  return (
    <>
      <h1>Provider</h1>
      {info === undefined ? (
        <p>Reading this node's gatekeeper…</p>
      ) : (
        <p class="muted">
          Gatekeeper account <span class="mono">{info.account}</span> · {info.patients} patient(s) · {info.relationships} relationship(s) · serving at{' '}
          <span class="mono">{info.endpoint}</span>
        </p>
      )}
      <section class="card" aria-labelledby="pv-rels">
        <h2 id="pv-rels">Patients and relationships</h2>
        <div class="row">
          <button type="button" onClick={() => void refresh()}>
            Refresh list
          </button>
          <button type="button" disabled={busy} onClick={() => void publish()}>
            Publish changed records
          </button>
        </div>
        {rels === undefined ? (
          <p>Reading relationships from the chain…</p>
        ) : rels.length === 0 ? (
          <p>No relationships yet: add a patient, then a record for them.</p>
        ) : (
          <div class="scroll">
            <table class="data">
              <caption>Relationships this gatekeeper serves (the newest {LIST_LIMIT} of the chain's)</caption>
              <thead>
                <tr>
                  <th scope="col">Patient</th>
                  <th scope="col">Patient's decision</th>
                  <th scope="col">Records on chain</th>
                  <th scope="col">Shares</th>
                  <th scope="col">Relationship</th>
                </tr>
              </thead>
              <tbody>
                {rels.map((r) => (
                  <tr key={r.relationship}>
                    <td>
                      {r.identity ?? '(no identity)'}
                      <br />
                      <span class="mono muted">{r.patient}</span>
                    </td>
                    <td class={r.status === 'accepted' ? 'ok' : r.status === 'rejected' || r.terminated ? 'bad' : 'warn'}>
                      {r.terminated ? 'Ended' : (STATUS_WORDS[r.status] ?? r.status).replace('your', 'the patient’s')}
                    </td>
                    <td>
                      {r.pointers.length === 0
                        ? 'none'
                        : r.pointers.map((p) => `${queryOf(p.query)?.resourceType ?? 'query outside the grammar'} (v${p.version}, ${p.fieldCount} fields)`).join('; ')}
                    </td>
                    <td>
                      {r.consentRequired ? 'Need your consent' : 'Patient decides alone'}
                      {r.terminated ? null : (
                        <>
                          <br />
                          <button type="button" disabled={busy} aria-label={`${r.consentRequired ? 'Stop requiring consent' : 'Require consent'} for ${r.identity ?? r.patient}`} onClick={() => void requireConsent(r, !r.consentRequired)}>
                            {r.consentRequired ? 'Stop requiring consent' : 'Require consent'}
                          </button>
                        </>
                      )}
                    </td>
                    <td class="mono">{r.relationship}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <div class="grid">
        <AddPatient {...props} onDone={refresh} />
        <AddRecord {...props} identities={identities} onDone={refresh} />
      </div>
      <Import {...props} onDone={refresh} />
      <ConsentRequests {...props} info={info} rels={rels} onDone={refresh} />
    </>
  )
}
