import { useState } from 'preact/hooks'
import type { AuditResult, RelationshipView } from '../api/index.ts'
import type { ScreenProps } from '../shell/types.ts'
import { queryOf, type PatientData } from './patient-data.ts'

const ANCHOR_WORDS = {
  verified: { cls: 'ok', text: 'matches the anchor on the chain' },
  mismatch: { cls: 'bad', text: 'does NOT match the anchor on the chain: the log was rewritten after it was anchored' },
  none: { cls: 'warn', text: 'not yet anchored on the chain' },
} as const

/** "Who read what, when" for one relationship, checked against the provider's on-chain anchor. */
export function Audit({ data, rels, names, fail }: Pick<ScreenProps, 'fail'> & { data: PatientData; rels: RelationshipView[]; names: Record<string, string> }) {
  const [relationship, setRelationship] = useState('')
  const [result, setResult] = useState<AuditResult | undefined>()
  const [who, setWho] = useState<Record<string, string>>({})
  const rel = rels.find((r) => r.relationship === relationship) ?? rels[0]

  async function load() {
    if (rel === undefined) return
    try {
      const res = await data.audit(rel.relationship)
      setResult(res)
      for (const a of new Set(res.entries.map((e) => e.requester.toLowerCase()))) {
        void data.identityOf(a).then((id) => id === undefined || setWho((m) => ({ ...m, [a]: id })), () => undefined)
      }
    } catch (err) {
      fail(err)
    }
  }

  const fieldsOf = (pointerId: string, mask: string): string => {
    const q = queryOf(rel?.pointers.find((p) => String(p.pointerId) === pointerId)?.query ?? '')
    const m = BigInt(mask)
    const names: string[] = []
    for (let i = 0; m >> BigInt(i) !== 0n; i++) if (((m >> BigInt(i)) & 1n) === 1n) names.push(q?.fields[i] ?? `field ${i}`)
    return `${q?.resourceType ?? `pointer ${pointerId}`}${names.length === 0 ? '' : `: ${names.join(', ')}`}`
  }

  return (
    <section class="card" aria-labelledby="pt-audit">
      <h2 id="pt-audit">Audit log</h2>
      {rels.length === 0 ? (
        <p>No relationship to audit yet.</p>
      ) : (
        <>
          <label for="au-rel">Relationship to audit</label>
          <select id="au-rel" value={rel?.relationship} onChange={(e) => (setRelationship(e.currentTarget.value), setResult(undefined))}>
            {rels.map((r) => (
              <option key={r.relationship} value={r.relationship}>
                {names[r.provider.toLowerCase()] ?? r.provider} · {r.relationship}
              </option>
            ))}
          </select>
          <div class="row">
            <button type="button" onClick={() => void load()}>
              Load audit log
            </button>
          </div>
        </>
      )}
      {result === undefined ? null : (
        <>
          <p>
            The log {result.linked ? <span class="ok">is intact (every entry links to the next)</span> : <span class="bad">is broken: {result.problem}</span>}.{' '}
            {result.covered.entries > 0 ? (
              <>
                Entries up to #{result.covered.throughSeq}: <span class={ANCHOR_WORDS[result.covered.status].cls}>{ANCHOR_WORDS[result.covered.status].text}</span>
                {result.anchor === null ? '' : ` (block ${result.anchor.blockNumber})`}.{' '}
              </>
            ) : null}
            {result.uncovered.entries > 0 ? <span class="warn">{result.uncovered.entries} newer entr{result.uncovered.entries === 1 ? 'y is' : 'ies are'} only the gatekeeper's word until its next anchor.</span> : null}
          </p>
          <div class="scroll">
            <table class="data">
              <caption>Who read what, when</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Who</th>
                  <th scope="col">What</th>
                  <th scope="col">Decision</th>
                  <th scope="col">On the chain</th>
                </tr>
              </thead>
              <tbody>
                {result.entries.map((e) => (
                  <tr key={e.seq}>
                    <td>{new Date(e.time).toLocaleString()}</td>
                    <td>{who[e.requester.toLowerCase()] ?? <span class="mono">{e.requester}</span>}</td>
                    <td>{e.method === 'records' ? e.pointerIds.map((p, i) => fieldsOf(p, e.fieldMasks[i] ?? '0')).join('; ') : e.method}</td>
                    <td class={e.decision === 'granted' ? 'ok' : 'bad'}>
                      {e.decision === 'granted' ? 'Read' : `Refused${e.reason === '' ? '' : `: ${e.reason}`}`}
                    </td>
                    <td>{e.covered ? <span class={ANCHOR_WORDS[result.covered.status].cls}>{result.covered.status === 'verified' ? 'anchored' : result.covered.status}</span> : <span class="warn">not yet anchored</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {result.entries.length === 0 ? <p>No one has read these records yet.</p> : null}
        </>
      )}
    </section>
  )
}
