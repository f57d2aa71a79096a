import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { createRpc, resumeSession, signInWithCode, signOut, takeSigninCode } from '../api/index.ts'
import { SCREENS } from '../screens/index.ts'
import { SignInScreen } from '../screens/signin.tsx'
import { Header } from './header.tsx'
import { Announcements, ErrorBanner } from './notices.tsx'
import { SignDialog } from './sign-dialog.tsx'
import type { ScreenProps, Session, SigningRequest } from './types.ts'

/** The screen in the fragment (`#/patient`); the first screen this session's roles suggest otherwise. */
function routeOf(hash: string): string | undefined {
  const m = /^#\/([a-z-]+)/.exec(hash)
  return m?.[1]
}

function defaultScreen(session: Session): string {
  if (session.kind === 'browser') return 'patient'
  const first = SCREENS.find((s) => (session.roles as string[]).includes(s.id))
  return first?.id ?? SCREENS[0]?.id ?? 'patient'
}

export function App() {
  const [session, setSession] = useState<Session | undefined>()
  const [starting, setStarting] = useState(true)
  const [error, setError] = useState<unknown>()
  const [notices, setNotices] = useState<{ id: number; text: string }[]>([])
  const [route, setRoute] = useState<string | undefined>(routeOf(location.hash))
  const [signing, setSigning] = useState<{ request: SigningRequest; resolve: (ok: boolean) => void } | undefined>()
  const sessionRef = useRef<Session | undefined>(undefined)
  sessionRef.current = session
  const noticeId = useRef(0)

  const rpc = useMemo(() => createRpc(() => (sessionRef.current?.kind === 'node' ? sessionRef.current.token : undefined)), [])

  const notify = useCallback((text: string) => {
    const id = ++noticeId.current
    setNotices((list) => [...list.slice(-2), { id, text }])
    setTimeout(() => setNotices((list) => list.filter((n) => n.id !== id)), 8000)
  }, [])
  const fail = useCallback((err: unknown) => setError(err), [])
  const confirm = useCallback((request: SigningRequest) => new Promise<boolean>((resolve) => setSigning({ request, resolve })), [])

  useEffect(() => {
    // A new screen starts without the last screen's error.
    const onHash = () => (setRoute(routeOf(location.hash)), setError(undefined))
    addEventListener('hashchange', onHash)
    // A sign-in link (`#signin=<code>`) signs in at once; otherwise this tab's earlier session, if the node still knows it.
    const code = takeSigninCode()
    const start = code === undefined ? resumeSession() : signInWithCode(code)
    start
      .then((s) => setSession(s))
      .catch((err: unknown) => setError(err))
      .finally(() => setStarting(false))
    return () => removeEventListener('hashchange', onHash)
  }, [])

  const onSignedIn = useCallback((s: Session) => {
    setError(undefined)
    setSession(s)
    location.hash = `#/${defaultScreen(s)}`
  }, [])

  const onSignOut = useCallback(() => {
    const s = sessionRef.current
    setSession(undefined)
    setError(undefined)
    history.replaceState(null, '', location.pathname)
    setRoute(undefined)
    if (s?.kind === 'node') signOut(s.token).catch((err: unknown) => setError(err))
  }, [])

  const active = session === undefined ? undefined : SCREENS.find((s) => s.id === (route ?? defaultScreen(session)))
  const props: ScreenProps | undefined = session === undefined ? undefined : { session, rpc, notify, fail, confirm }

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Header session={session} screens={SCREENS} active={active?.id} onSignOut={onSignOut} />
      <main id="main" tabIndex={-1}>
        <ErrorBanner error={error} onDismiss={() => setError(undefined)} />
        {starting ? (
          <p>Signing in…</p>
        ) : props === undefined ? (
          <SignInScreen rpc={rpc} onSignedIn={onSignedIn} fail={fail} />
        ) : active === undefined ? (
          <p>
            No screen is called “{route}”. Choose one under “Screens” above.
          </p>
        ) : active.needs === 'node' && props.session.kind === 'browser' ? (
          <NeedsNode title={active.title} />
        ) : (
          <active.component key={active.id} {...props} />
        )}
      </main>
      <Announcements items={notices} />
      {signing === undefined ? null : (
        <SignDialog
          request={signing.request}
          onDone={(ok) => {
            signing.resolve(ok)
            setSigning(undefined)
          }}
        />
      )}
    </>
  )
}

function NeedsNode({ title }: { title: string }) {
  return (
    <>
      <h1>{title}</h1>
      <p class="banner info">
        This screen acts with the node's own account (its gatekeeper and keys), and you are signed in with a key held in this browser. Sign out and sign in with the
        node's account (run <span class="mono">medrec ui signin</span> on the node for a link) to use it.
      </p>
    </>
  )
}
