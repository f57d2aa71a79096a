import type { ScreenDef } from '../screens/index.ts'
import type { Session } from './types.ts'

const short = (a: string) => `${a.slice(0, 6)}…${a.slice(-4)}`

/** Who is signed in (account, chain, how), the screens as the role switcher, sign-out. */
export function Header({ session, screens, active, onSignOut }: { session: Session | undefined; screens: ScreenDef[]; active: string | undefined; onSignOut: () => void }) {
  return (
    <header class="top">
      <span class="brand">MedRec</span>
      {session === undefined ? null : (
        <>
          <nav aria-label="Screens">
            <ul>
              {screens.map((s) => (
                <li key={s.id}>
                  <a href={`#/${s.id}`} aria-current={s.id === active ? 'page' : undefined}>
                    {s.title}
                  </a>
                  {session.kind === 'node' && !(session.roles as string[]).includes(s.id) ? <span class="skip"> (not a role of this node)</span> : null}
                </li>
              ))}
            </ul>
          </nav>
          <span class="who" title={session.account}>
            <span class="skip">Signed in as </span>
            <span aria-label={`Account ${session.account}`}>{short(session.account)}</span> · chain {session.chainId} ·{' '}
            {session.kind === 'node' ? "node's account" : `key in this browser (${session.source})`}
          </span>
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
        </>
      )}
    </header>
  )
}
