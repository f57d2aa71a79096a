import { invalid } from './fhir.ts'

/**
 * RFC 4180 CSV: comma-separated fields, records ending in CRLF or LF, fields optionally in
 * double quotes (then holding commas, line breaks, and quotes doubled as ""). A leading BOM is
 * dropped and blank lines are skipped. Field text is kept exactly (no trimming).
 */

export interface CsvRecord {
  fields: string[]
  /** The 1-based line the record starts on (a quoted field may span lines). */
  line: number
}

export function parseCsv(text: string): CsvRecord[] {
  const src = text.startsWith('\uFEFF') ? text.slice(1) : text
  const records: CsvRecord[] = []
  let fields: string[] = []
  let field = ''
  let line = 1
  let recordLine = 1
  let quotedRecord = false
  let i = 0

  const endRecord = (): void => {
    fields.push(field)
    // A blank line is one empty unquoted field: skip it rather than call it a short record.
    if (!(fields.length === 1 && fields[0] === '' && !quotedRecord)) records.push({ fields, line: recordLine })
    fields = []
    field = ''
    quotedRecord = false
  }

  while (i < src.length) {
    const c = src[i]!
    if (c === '"' && field === '') {
      // A quoted field: runs to the next quote not doubled.
      quotedRecord = true
      const startLine = line
      i++
      for (;;) {
        if (i >= src.length) invalid(`CSV line ${startLine}: a quoted field is never closed; end it with a double quote`, { line: startLine })
        const q = src[i]!
        if (q === '"') {
          if (src[i + 1] === '"') {
            field += '"'
            i += 2
            continue
          }
          i++
          break
        }
        if (q === '\n') line++
        field += q
        i++
      }
      const next = src[i]
      if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') {
        invalid(`CSV line ${line}: text after a closing quote; a quoted field ends at a comma or line end (write a quote inside a quoted field as "")`, { line })
      }
      continue
    }
    if (c === '"') invalid(`CSV line ${line}: a double quote inside an unquoted field; quote the whole field and double the quote ("")`, { line })
    if (c === ',') {
      fields.push(field)
      field = ''
      i++
      continue
    }
    if (c === '\r' || c === '\n') {
      endRecord()
      i += c === '\r' && src[i + 1] === '\n' ? 2 : 1
      line++
      recordLine = line
      continue
    }
    field += c
    i++
  }
  if (field !== '' || fields.length > 0 || quotedRecord) endRecord()
  return records
}
