import { useState } from 'preact/hooks'
import { BOUNTY_AGGREGATES, CODE_SYSTEMS, type BountyAggregate, type BountyQuery, type CodeSystem, type RecordQuery } from '../../../contracts/client/index.ts'
import { useSubmit } from '../shell/submit.ts'
import type { ScreenProps } from '../shell/types.ts'
import { newResourceId, RECORD_FORMS, type RecordForm } from './provider-forms.ts'

type Props = ScreenProps & { onDone: () => Promise<void> }

const ADDRESS = /^0x[0-9a-fA-F]{40}$/

/** Add a patient by identity (medrec_addPatient): registers the identity on chain when it is new. */
export function AddPatient({ rpc, notify, fail, confirm, session, onDone }: Props) {
  const [identity, setIdentity] = useState('')
  const [address, setAddress] = useState('')
  const { busy, run } = useSubmit(fail)

  async function submit(e: Event) {
    e.preventDefault()
    const id = identity.trim()
    if (!ADDRESS.test(address.trim())) return fail(new Error('the patient account address must be 0x followed by 40 hex digits'))
    const ok = await confirm({
      title: `Add patient ${id}`,
      lines: [
        `The identity “${id}” is bound to account ${address.trim()} in the Registrar (if it is not registered yet), which creates her Summary contract. The identity goes on chain for ever: use a name or an ID hash, never health data.`,
        'A minimal Patient record is stored in this provider’s database (off chain).',
      ],
      signer: `this node's account ${session.account} (an authority registers identities)`,
    })
    if (!ok) return
    await run(async () => {
      const res = await rpc.medrec('medrec_addPatient', { identity: id, address: address.trim() })
      notify(`Added patient ${res.identity}${res.registered ? ' (identity registered on chain)' : ''}.`)
      setIdentity('')
      setAddress('')
      await onDone()
    })
  }

  return (
    <section class="card" aria-labelledby="pv-addp">
      <h2 id="pv-addp">Add a patient</h2>
      <form onSubmit={(e) => void submit(e)}>
        <label for="ap-id">Patient identity</label>
        <input id="ap-id" type="text" autocomplete="off" required value={identity} onInput={(e) => setIdentity(e.currentTarget.value)} aria-describedby="ap-id-help" />
        <p id="ap-id-help" class="muted">
          A name or an ID hash, e.g. alice-nhs-51f2. Never health data: it is stored on chain.
        </p>
        <label for="ap-addr">Patient account address</label>
        <input id="ap-addr" type="text" autocomplete="off" spellcheck={false} required value={address} onInput={(e) => setAddress(e.currentTarget.value)} placeholder="0x…" />
        <div class="row">
          <button type="submit" class="primary" disabled={busy || identity.trim() === '' || address.trim() === ''}>
            Add patient
          </button>
        </div>
      </form>
    </section>
  )
}

/** Add or update a record (medrec_addRecord): the record from a form, the pointer's query and bounty from lists. */
export function AddRecord({ rpc, notify, fail, confirm, session, identities, onDone }: Props & { identities: string[] }) {
  const [patient, setPatient] = useState('')
  const [form, setForm] = useState<RecordForm>(RECORD_FORMS[0]!)
  const [values, setValues] = useState<Record<string, string>>({})
  const [system, setSystem] = useState<CodeSystem>(RECORD_FORMS[0]!.systems[0]!)
  const [fields, setFields] = useState<Set<string>>(new Set(RECORD_FORMS[0]!.defaultFields))
  const [filter, setFilter] = useState<Set<CodeSystem>>(new Set())
  const [aggregate, setAggregate] = useState<BountyAggregate>('count')
  const [groupBy, setGroupBy] = useState('code')
  const { busy, run } = useSubmit(fail)

  function pickType(type: string) {
    const f = RECORD_FORMS.find((x) => x.type === type) ?? RECORD_FORMS[0]!
    setForm(f)
    setValues({})
    setSystem(f.systems[0]!)
    setFields(new Set(f.defaultFields))
    setFilter(new Set())
    setAggregate('count')
    setGroupBy(f.groupBy[0] ?? '')
  }
  const toggle = <T,>(set: Set<T>, v: T): Set<T> => (set.has(v) ? new Set([...set].filter((x) => x !== v)) : new Set([...set, v]))

  async function submit(e: Event) {
    e.preventDefault()
    const id = patient.trim()
    const chosen = form.fields.filter((f) => fields.has(f))
    if (chosen.length === 0) return fail(new Error('tick at least one field for the pointer to describe'))
    const query: RecordQuery = filter.size === 0 ? { resourceType: form.type, fields: chosen } : { resourceType: form.type, fields: chosen, codeSystems: [...filter] }
    const numeric = form.numeric[0]
    const bounty: BountyQuery = {
      resourceType: form.type,
      aggregate,
      ...(aggregate === 'count' || numeric === undefined ? {} : { field: numeric }),
      ...(groupBy === '' ? {} : { groupBy: [groupBy] }),
    }
    const resource = { ...form.build(values, system), id: newResourceId(form.type) }
    const ok = await confirm({
      title: `Add ${/^[AEIOU]/.test(form.type) ? 'an' : 'a'} ${form.type} record for ${id}`,
      lines: [
        `Stored in this provider’s database (off chain): ${form.label.toLowerCase()}${values.display ? `, “${values.display}”` : ''}.`,
        `On chain, the relationship's pointer describes ${form.type} records with the fields ${chosen.join(', ')}${filter.size === 0 ? '' : ` coded in ${[...filter].map((s) => CODE_SYSTEMS[s]).join(', ')}`}, and the hash of the records: no value.`,
        `The bounty lets the block's author ask for the ${aggregate}${bounty.field === undefined ? '' : ` of ${bounty.field}`} of ${form.type} records${groupBy === '' ? '' : ` by ${groupBy}`}, released only for groups of at least k patients.`,
        'For a new patient this creates the relationship and links it to her Summary for her approval; otherwise the pointer gets the new hash and she is asked to approve the update.',
      ],
      signer: `this node's gatekeeper (${session.account}) and the relationship's account`,
    })
    if (!ok) return
    await run(async () => {
      const res = await rpc.medrec('medrec_addRecord', { identity: id, resources: [resource], query, bounty })
      const words = { created: 'created a new relationship with', added: 'added a new pointer to', updated: 'updated the pointer of', unchanged: 'changed nothing in' }[res.action]
      notify(`Record stored; ${words} relationship ${res.relationship} (pointer ${res.pointerId}).`)
      setValues({})
      await onDone()
    })
  }

  return (
    <section class="card" aria-labelledby="pv-addr">
      <h2 id="pv-addr">Add a record</h2>
      <form onSubmit={(e) => void submit(e)}>
        <label for="ar-patient">Record for patient</label>
        <input id="ar-patient" type="text" list="ar-patients" autocomplete="off" required value={patient} onInput={(e) => setPatient(e.currentTarget.value)} aria-describedby="ar-patient-help" />
        <datalist id="ar-patients">
          {identities.map((i) => (
            <option key={i} value={i} />
          ))}
        </datalist>
        <p id="ar-patient-help" class="muted">
          The patient's identity, as added above.
        </p>
        <label for="ar-type">Record type</label>
        <select id="ar-type" value={form.type} onChange={(e) => pickType(e.currentTarget.value)}>
          {RECORD_FORMS.map((f) => (
            <option key={f.type} value={f.type}>
              {f.label}
            </option>
          ))}
        </select>
        <label for="ar-system">Code system of the code</label>
        <select id="ar-system" value={system} onChange={(e) => setSystem(e.currentTarget.value as CodeSystem)}>
          {form.systems.map((s) => (
            <option key={s} value={s}>
              {CODE_SYSTEMS[s]}
            </option>
          ))}
        </select>
        {form.inputs.map((inp) => (
          <div key={`${form.type}-${inp.name}`}>
            <label for={`ar-${inp.name}`}>{inp.label}</label>
            {inp.kind === 'select' ? (
              <select id={`ar-${inp.name}`} value={values[inp.name] ?? inp.options?.[0]} onChange={(e) => setValues({ ...values, [inp.name]: e.currentTarget.value })}>
                {inp.options?.map((o) => (
                  <option key={o} value={o}>
                    {o}
                  </option>
                ))}
              </select>
            ) : (
              <input
                id={`ar-${inp.name}`}
                type={inp.kind}
                step={inp.kind === 'number' ? 'any' : undefined}
                required={inp.required === true}
                value={values[inp.name] ?? ''}
                onInput={(e) => setValues({ ...values, [inp.name]: e.currentTarget.value })}
              />
            )}
          </div>
        ))}
        <fieldset>
          <legend>What the pointer on chain describes (no values)</legend>
          {form.fields.map((f) => (
            <label key={f} class="inline">
              <input type="checkbox" checked={fields.has(f)} onChange={() => setFields(toggle(fields, f))} />
              Field: {f}
            </label>
          ))}
          <p class="muted">Only records coded in (none ticked: all records of this type):</p>
          {form.systems.map((s) => (
            <label key={s} class="inline">
              <input type="checkbox" checked={filter.has(s)} onChange={() => setFilter(toggle(filter, s))} />
              Code system: {CODE_SYSTEMS[s]}
            </label>
          ))}
        </fieldset>
        <fieldset>
          <legend>Bounty (the aggregate the block's author may collect)</legend>
          <label for="ar-agg">Bounty aggregate</label>
          <select id="ar-agg" value={aggregate} onChange={(e) => setAggregate(e.currentTarget.value as BountyAggregate)}>
            {BOUNTY_AGGREGATES.filter((a) => a === 'count' || form.numeric.length > 0).map((a) => (
              <option key={a} value={a}>
                {a === 'count' ? 'count of records' : `${a} of ${form.numeric[0]}`}
              </option>
            ))}
          </select>
          <label for="ar-group">Bounty grouped by</label>
          <select id="ar-group" value={groupBy} onChange={(e) => setGroupBy(e.currentTarget.value)}>
            <option value="">no grouping</option>
            {form.groupBy.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </fieldset>
        <div class="row">
          <button type="submit" class="primary" disabled={busy || patient.trim() === ''}>
            Add record
          </button>
        </div>
      </form>
    </section>
  )
}
