import { messageOf } from '../api/index.ts'

/** The polite live region: short announcements (a relationship accepted, records verified). */
export function Announcements({ items }: { items: { id: number; text: string }[] }) {
  return (
    <div class="notices" role="status" aria-live="polite" aria-label="Announcements">
      {items.map((n) => (
        <p key={n.id}>{n.text}</p>
      ))}
    </div>
  )
}

/** The error banner: an assertive live region that is always in the page, so its text is announced when set. */
export function ErrorBanner({ error, onDismiss }: { error: unknown; onDismiss: () => void }) {
  return (
    <div role="alert" aria-label="Error">
      {error === undefined ? null : (
        <div class="banner error">
          <p>
            <strong>Error: </strong>
            <span>{messageOf(error)}</span>
          </p>
          <button type="button" onClick={onDismiss}>
            Dismiss error
          </button>
        </div>
      )}
    </div>
  )
}
