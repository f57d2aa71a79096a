import { useState } from 'preact/hooks'
import { privateKeyToAddress } from 'viem/accounts'
import { type BrowserSession, type Rpc, type Session } from '../api/index.ts'
import { decryptKeystore, keyFromRecoveryPhrase } from '../keys/index.ts'

/**
 * Sign in, three ways. The node's account: only through a one-time link the node prints
 * (`#signin=<code>`, or `medrec ui signin`): a page cannot obtain a session any other way. A
 * key held in this browser: a recovery phrase or a keystore file, turned into a key in this
 * tab's memory only (never stored, never sent); it signs transactions here.
 */
export function SignInScreen({ rpc, onSignedIn, fail }: { rpc: Rpc; onSignedIn: (s: Session) => void; fail: (err: unknown) => void }) {
  const [phrase, setPhrase] = useState('')
  const [index, setIndex] = useState('0')
  const [file, setFile] = useState<File | undefined>()
  const [password, setPassword] = useState('')
  const [busy, setBusy] = useState<string | undefined>()
  const [progress, setProgress] = useState<number | undefined>()

  async function withKey(key: { account: `0x${string}`; privateKey: `0x${string}` }, source: BrowserSession['source']) {
    const chainId = Number(await rpc.call<string>('eth_chainId'))
    onSignedIn({ kind: 'browser', account: key.account, privateKey: key.privateKey, chainId, source })
  }

  async function usePhrase(e: Event) {
    e.preventDefault()
    setBusy('phrase')
    try {
      const key = keyFromRecoveryPhrase(phrase, Number(index))
      setPhrase('')
      await withKey(key, 'recovery phrase')
    } catch (err) {
      fail(err)
    } finally {
      setBusy(undefined)
    }
  }

  async function unlock(e: Event) {
    e.preventDefault()
    if (file === undefined) return fail(new Error('choose your keystore file first'))
    setBusy('keystore')
    setProgress(0)
    try {
      const privateKey = await decryptKeystore(await file.text(), password, setProgress)
      setPassword('')
      await withKey({ account: privateKeyToAddress(privateKey), privateKey }, 'keystore file')
    } catch (err) {
      fail(err)
    } finally {
      setBusy(undefined)
      setProgress(undefined)
    }
  }

  return (
    <>
      <h1>Sign in to MedRec</h1>
      <div class="grid">
        <section class="card" aria-labelledby="si-node">
          <h2 id="si-node">With this node's account</h2>
          <p>
            The node signs for you with its own account (and its gatekeeper serves and reads records). For a sign-in link, run{' '}
            <span class="mono">medrec ui signin</span> on the node's computer and open the link it prints; each link works once, for 5 minutes.
          </p>
          <p class="muted">This page cannot sign in with the node's account without such a link.</p>
        </section>
        <section class="card" aria-labelledby="si-phrase">
          <h2 id="si-phrase">With a recovery phrase</h2>
          <form onSubmit={(e) => void usePhrase(e)}>
            <label for="si-phrase-in">Recovery phrase (12 words)</label>
            <textarea
              id="si-phrase-in"
              autocomplete="off"
              autocapitalize="none"
              spellcheck={false}
              value={phrase}
              onInput={(e) => setPhrase(e.currentTarget.value)}
              aria-describedby="si-phrase-help"
            />
            <label for="si-index">Account number in the phrase</label>
            <input id="si-index" type="number" min={0} step={1} value={index} onInput={(e) => setIndex(e.currentTarget.value)} />
            <p id="si-phrase-help" class="muted">
              The key (m/44'/60'/0'/0/account number, as wallets derive it) is derived in this tab and kept only in its memory: it is never stored or sent to the node. Transactions are signed
              here.
            </p>
            <button type="submit" class="primary" disabled={busy !== undefined || phrase.trim() === ''}>
              Use recovery phrase
            </button>
          </form>
        </section>
        <section class="card" aria-labelledby="si-ks">
          <h2 id="si-ks">With a keystore file</h2>
          <form onSubmit={(e) => void unlock(e)}>
            <label for="si-ks-file">Keystore file (JSON)</label>
            <input id="si-ks-file" type="file" accept=".json,application/json,*" onChange={(e) => setFile(e.currentTarget.files?.[0])} />
            <label for="si-ks-pw">Keystore password</label>
            <input id="si-ks-pw" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
            <p class="muted">Decrypted in this tab; the file and the password never leave it.</p>
            {progress === undefined ? null : <progress aria-label="Decrypting the keystore" max={1} value={progress} />}
            <button type="submit" class="primary" disabled={busy !== undefined || file === undefined}>
              Unlock keystore
            </button>
          </form>
        </section>
      </div>
      {busy === undefined ? null : <p role="status">{busy === 'keystore' ? 'Decrypting the keystore…' : 'Deriving the key…'}</p>}
    </>
  )
}
