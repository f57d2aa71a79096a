/**
 * A screen's periodic read of the node: `load` runs at once and then every `ms` after the previous
 * run settles (never two at a time, so a slow node is not queued up), until the screen unmounts.
 * A failed run keeps the last good value and reports the error once per distinct message, so a
 * node that stays down does not flood the error banner every 2 s.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'

export interface Polled<T> {
  value: T | undefined
  error: unknown
  /** Whether a run has finished (so an undefined value is the answer, not "not yet"). */
  loaded: boolean
  /** Runs `load` now (after an action such as a vote) instead of waiting for the next tick. */
  refresh(): void
}

export function usePoll<T>(load: () => Promise<T>, ms: number, onError: (err: unknown) => void): Polled<T> {
  const [value, setValue] = useState<T | undefined>(undefined)
  const [error, setError] = useState<unknown>(undefined)
  const [loaded, setLoaded] = useState(false)
  const loadRef = useRef(load)
  loadRef.current = load
  const errRef = useRef(onError)
  errRef.current = onError
  const kick = useRef<() => void>(() => undefined)

  useEffect(() => {
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    let running = false
    let again = false
    let lastMessage = ''
    const run = async (): Promise<void> => {
      if (running) {
        again = true
        return
      }
      running = true
      clearTimeout(timer)
      try {
        const v = await loadRef.current()
        if (stopped) return
        setValue(v)
        setError(undefined)
        setLoaded(true)
        lastMessage = ''
      } catch (err) {
        if (stopped) return
        setError(err)
        setLoaded(true)
        const message = err instanceof Error ? err.message : String(err)
        if (message !== lastMessage) errRef.current(err)
        lastMessage = message
      } finally {
        running = false
      }
      if (stopped) return
      if (again) {
        again = false
        void run()
      } else timer = setTimeout(() => void run(), ms)
    }
    kick.current = () => void run()
    void run()
    return () => {
      stopped = true
      clearTimeout(timer)
    }
  }, [ms])

  const refresh = useCallback(() => kick.current(), [])
  return { value, error, loaded, refresh }
}
