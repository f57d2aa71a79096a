import { HttpError } from './errors.ts'

/** A same-origin JSON request to the UI server; a non-2xx answer becomes an HttpError with the server's words. */
export async function requestJson<T>(path: string, init: { method?: string; token?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? null : JSON.stringify(init.body),
    credentials: 'omit',
    cache: 'no-store',
  })
  const text = await res.text()
  let body: unknown
  try {
    body = text === '' ? undefined : JSON.parse(text)
  } catch {
    body = undefined
  }
  if (!res.ok) {
    const b = (body ?? {}) as { error?: unknown; message?: unknown }
    const message = typeof b.message === 'string' ? b.message : `${path} answered HTTP ${res.status}${text === '' ? '' : `: ${text.slice(0, 200)}`}`
    throw new HttpError(res.status, typeof b.error === 'string' ? b.error : `HTTP_${res.status}`, message)
  }
  return body as T
}
