/**
 * An in-process node (the real one: startNode with a dev chain, its gatekeeper and the UI) for
 * the UI server's tests, with a small stand-in app (index.html + one script) in a temp dir until
 * the tests need the real build.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DEFAULT_GATEKEEPER } from '../../gatekeeper/options.ts'
import type { NodeConfig } from '../../node/config/index.ts'
import { createDevGenesis, devAccounts } from '../../node/genesis/index.ts'
import { startNode, type RunningNode } from '../../node/node.ts'
import { DEFAULT_RPC, DEV_APIS, defaultJwtSecretPath, loadOrCreateJwtSecret } from '../../node/rpc/index.ts'
import { tempDir } from '../helpers/node-process.ts'

export const INDEX_HTML = '<!doctype html><meta charset="utf-8"><title>MedRec test app</title><script type="module" src="/assets/app.js"></script><p>app</p>'
export const APP_JS = 'document.body.dataset.app = "loaded"\n'

export interface UiNode {
  node: RunningNode
  /** The UI's URL, ending in `/`. */
  ui: string
  secret: Uint8Array
  datadir: string
  assets: string
}

/** Writes the stand-in app into `dir` (index.html, assets/app.js) and returns `dir`. */
export function writeApp(dir: string): string {
  mkdirSync(join(dir, 'assets'), { recursive: true })
  writeFileSync(join(dir, 'index.html'), INDEX_HTML)
  writeFileSync(join(dir, 'assets', 'app.js'), APP_JS)
  return dir
}

export async function startUiNode(t: { teardown(fn: () => unknown): void }): Promise<UiNode> {
  const dir = tempDir('medrec-ui-')
  const datadir = join(dir.path, 'node')
  mkdirSync(datadir, { mode: 0o700 })
  const assets = writeApp(join(dir.path, 'app'))
  const secret = await loadOrCreateJwtSecret(defaultJwtSecretPath(datadir))
  const dev0 = devAccounts(1)[0]!
  const config: NodeConfig = {
    datadir,
    genesis: createDevGenesis({ period: 1 }),
    rpc: { ...DEFAULT_RPC, port: 0, apis: [...DEV_APIS], jwtSecret: secret, callWorkers: 1 },
    authority: dev0,
    logLevel: 'warn',
    dev: true,
    p2p: undefined,
    gatekeeper: { options: { dir: join(datadir, 'gatekeeper'), k: DEFAULT_GATEKEEPER.k, maxRequestLifetime: DEFAULT_GATEKEEPER.maxRequestLifetime, delegates: false }, account: dev0 },
    ui: { addr: '127.0.0.1', port: 0, vhosts: [...DEFAULT_RPC.vhosts], assetsDir: assets },
    priceLimit: 0n,
  }
  const node = await startNode(config)
  t.teardown(async () => {
    await node.close()
    dir.remove()
  })
  return { node, ui: node.uiUrl!, secret, datadir, assets }
}
