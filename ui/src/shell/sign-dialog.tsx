import { useEffect, useRef } from 'preact/hooks'
import type { SigningRequest } from './types.ts'

/**
 * "Confirm: <what>": says in words what is about to be signed and by whom, before anything is.
 * A native <dialog> shown modally: focus moves into it, Escape cancels, focus returns after.
 */
export function SignDialog({ request, onDone }: { request: SigningRequest; onDone: (ok: boolean) => void }) {
  const ref = useRef<HTMLDialogElement>(null)
  useEffect(() => {
    // Focus goes back to what opened the dialog (the action's button) when it closes.
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : undefined
    const d = ref.current
    if (d !== null && !d.open) d.showModal()
    return () => opener?.focus()
  }, [])
  return (
    <dialog ref={ref} aria-labelledby="sign-title" onCancel={() => onDone(false)}>
      <h2 id="sign-title">Confirm: {request.title}</h2>
      {request.lines.map((l, i) => (
        <p key={i}>{l}</p>
      ))}
      <p class="muted">
        Signed by <span class="mono">{request.signer}</span>.
      </p>
      <div class="row">
        <button type="button" class="primary" onClick={() => onDone(true)}>
          Sign and send
        </button>
        <button type="button" onClick={() => onDone(false)}>
          Cancel
        </button>
      </div>
    </dialog>
  )
}
