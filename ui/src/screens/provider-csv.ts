// CSV text split into records for chunked imports (the node parses the cells; this only cuts rows).

/** CSV records split at newlines outside quotes (a quoted cell may hold a newline). */
export function csvRecords(text: string): string[] {
  const out: string[] = []
  let cur = ''
  let quoted = false
  for (const ch of text.replace(/\r\n?/g, '\n')) {
    if (ch === '"') quoted = !quoted
    if (ch === '\n' && !quoted) {
      if (cur.trim() !== '') out.push(cur)
      cur = ''
    } else cur += ch
  }
  if (cur.trim() !== '') out.push(cur)
  return out
}
