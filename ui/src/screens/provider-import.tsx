import { useState } from 'preact/hooks'
import { messageOf } from '../api/index.ts'
import { RESOURCE_TYPES } from '../../../contracts/client/index.ts'
import { useSubmit } from '../shell/submit.ts'
import type { ScreenProps } from '../shell/types.ts'
import { csvRecords } from './provider-csv.ts'

type Props = ScreenProps & { onDone: () => Promise<void> }

/** Entries (bundle) or rows (CSV) sent per medrec_import call: small enough to show progress, few enough calls. */
const CHUNK = 25

interface Progress {
  done: number
  total: number
  imported: number
  byType: Record<string, number>
  errors: { entry: string; message: string }[]
}

/**
 * Import a FHIR bundle or a CSV file into this provider's database (medrec_import), in chunks with
 * progress; a chunk that fails is retried entry by entry so each bad entry is named with the
 * node's reason and the good ones still land. "Publish" then runs one medrec_update.
 */
export function Import({ rpc, notify, fail, confirm, session, onDone }: Props) {
  const [file, setFile] = useState<File | undefined>()
  const [csvType, setCsvType] = useState('Observation')
  const [publish, setPublish] = useState(false)
  const [progress, setProgress] = useState<Progress | undefined>()
  const submit = useSubmit(fail)
  const busy = submit.busy

  async function run(e: Event) {
    e.preventDefault()
    if (file === undefined) return
    await submit.run(async () => {
      const text = await file.text()
      const isCsv = /\.csv$/i.test(file.name) || !text.trimStart().startsWith('{')
      // Each unit: what one call imports, and how to name it in an error.
      type Unit = { label: string; params: Parameters<typeof rpc.medrec<'medrec_import'>>[1] }
      let units: Unit[]
      if (isCsv) {
        const [header, ...rows] = csvRecords(text)
        if (header === undefined) throw new Error('the CSV file is empty')
        units = rows.map((row, i) => ({ label: `row ${i + 2}`, params: { csv: `${header}\n${row}\n`, resourceType: csvType } }))
      } else {
        let bundle: unknown
        try {
          bundle = JSON.parse(text)
        } catch {
          throw new Error('this file is neither a FHIR bundle (JSON) nor CSV')
        }
        const b = bundle as { resourceType?: unknown; type?: unknown; entry?: unknown }
        if (b.resourceType !== 'Bundle' || !Array.isArray(b.entry)) throw new Error('the JSON file is not a FHIR Bundle with entries (resourceType "Bundle", an "entry" array)')
        units = (b.entry as { resource?: { resourceType?: unknown; id?: unknown } }[]).map((entry, i) => ({
          label: `entry ${i + 1}${entry.resource === undefined ? '' : ` (${String(entry.resource.resourceType)}/${String(entry.resource.id)})`}`,
          params: { bundle: { resourceType: 'Bundle', type: typeof b.type === 'string' ? b.type : 'collection', entry: [entry] } },
        }))
      }
      const p: Progress = { done: 0, total: units.length, imported: 0, byType: {}, errors: [] }
      setProgress({ ...p })
      const add = (r: { imported: number; byType: Record<string, number> }) => {
        p.imported += r.imported
        for (const [k, v] of Object.entries(r.byType)) p.byType[k] = (p.byType[k] ?? 0) + v
      }
      for (let i = 0; i < units.length; i += CHUNK) {
        const chunk = units.slice(i, i + CHUNK)
        try {
          add(await rpc.medrec('medrec_import', merge(chunk.map((u) => u.params))))
        } catch {
          for (const u of chunk) {
            try {
              add(await rpc.medrec('medrec_import', u.params))
            } catch (err) {
              p.errors.push({ entry: u.label, message: messageOf(err) })
            }
          }
        }
        p.done = Math.min(units.length, i + CHUNK)
        setProgress({ ...p, byType: { ...p.byType }, errors: [...p.errors] })
      }
      notify(`Imported ${p.imported} record(s)${p.errors.length === 0 ? '' : `; ${p.errors.length} entr${p.errors.length === 1 ? 'y' : 'ies'} refused`}.`)
      if (publish && p.imported > 0) {
        const ok = await confirm({
          title: 'Publish the imported records',
          lines: ['For every relationship whose records changed with this import, the gatekeeper signs an update with the new hash; patients are asked to approve it.'],
          signer: `this node's gatekeeper (${session.account}) and its per-relationship accounts`,
        })
        if (ok) {
          const res = await rpc.medrec('medrec_update', {})
          notify(`Published ${res.updated.length} update(s).`)
        }
      }
      await onDone()
    })
  }

  return (
    <section class="card" aria-labelledby="pv-import">
      <h2 id="pv-import">Import records</h2>
      <form onSubmit={(e) => void run(e)}>
        <label for="im-file">FHIR bundle or CSV file</label>
        <input id="im-file" type="file" accept=".json,.csv,application/json,text/csv" onChange={(e) => setFile(e.currentTarget.files?.[0])} />
        <label for="im-type">CSV record type</label>
        <select id="im-type" value={csvType} onChange={(e) => setCsvType(e.currentTarget.value)} aria-describedby="im-type-help">
          {RESOURCE_TYPES.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
        <p id="im-type-help" class="muted">
          For a CSV file only: which kind of record each row is (a bundle names its own).
        </p>
        <label class="inline">
          <input type="checkbox" checked={publish} onChange={() => setPublish(!publish)} />
          Publish to the chain
        </label>
        <div class="row">
          <button type="submit" class="primary" disabled={busy || file === undefined}>
            Import
          </button>
        </div>
      </form>
      {progress === undefined ? null : (
        <div>
          <progress aria-label="Import progress" max={progress.total} value={progress.done} />
          <p role="status">
            {progress.done} of {progress.total} entries processed · {progress.imported} imported
            {Object.keys(progress.byType).length === 0 ? '' : ` (${Object.entries(progress.byType).map(([k, v]) => `${v} ${k}`).join(', ')})`}
          </p>
          {progress.errors.length === 0 ? null : (
            <div class="scroll">
              <table class="data">
                <caption>Entries refused</caption>
                <thead>
                  <tr>
                    <th scope="col">Entry</th>
                    <th scope="col">Why</th>
                  </tr>
                </thead>
                <tbody>
                  {progress.errors.map((er) => (
                    <tr key={er.entry}>
                      <td>{er.entry}</td>
                      <td class="bad">{er.message}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </section>
  )
}

/** Several units of one kind as one medrec_import: the entries of one bundle, or the rows under one header. */
function merge(params: { bundle?: unknown; csv?: string; resourceType?: string }[]): { bundle?: unknown; csv?: string; resourceType?: string } {
  const first = params[0]!
  if (first.bundle !== undefined) {
    const b = first.bundle as { resourceType: string; type: string }
    return { bundle: { ...b, entry: params.flatMap((p) => (p.bundle as { entry: unknown[] }).entry) } }
  }
  const header = first.csv!.split('\n')[0]!
  return { csv: `${header}\n${params.map((p) => p.csv!.slice(header.length + 1)).join('')}`, resourceType: first.resourceType! }
}
