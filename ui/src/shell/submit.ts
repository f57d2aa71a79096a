import { useCallback, useState } from 'preact/hooks'

/**
 * A form's or a row's action: `busy` while `run`'s task is under way (its buttons are disabled,
 * so a second click sends nothing twice), and a failure shown through the screen's `fail`. The
 * task says what succeeded itself (notify, refresh).
 */
export function useSubmit(fail: (err: unknown) => void): { busy: boolean; run: (task: () => Promise<void>) => Promise<void> } {
  const [busy, setBusy] = useState(false)
  const run = useCallback(
    async (task: () => Promise<void>) => {
      setBusy(true)
      try {
        await task()
      } catch (err) {
        fail(err)
      } finally {
        setBusy(false)
      }
    },
    [fail],
  )
  return { busy, run }
}
