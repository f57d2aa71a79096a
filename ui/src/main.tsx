// The MedRec app's entry: renders the shell into #app (ui/index.html; no inline script).
import { render } from 'preact'
import { App } from './shell/app.tsx'

const root = document.getElementById('app')
if (root !== null) render(<App />, root)
