/**
 * The built app's files (ui/dist): `index.html` and what lies under `assets/`, found by listing
 * the directory, so only files that exist there with a known type are ever served: a request
 * path is looked up as a whole in that list (no path arithmetic, so no `..` or encoded escapes
 * can reach outside it), symlinks are skipped, and directories are never listed.
 */
import { readdir, readFile } from 'node:fs/promises'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** <repo>/ui/dist, where `npm install` (ui/build.ts) puts the app. */
export const DEFAULT_ASSETS_DIR = fileURLToPath(new URL('../../ui/dist', import.meta.url))

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
}

export interface StaticFile {
  path: string
  type: string
}

export interface StaticFiles {
  /** The file served at a URL path (`/`, `/assets/app.js`), if the app has one. */
  lookup(urlPath: string): Promise<StaticFile | undefined>
  read(file: StaticFile): Promise<Buffer>
}

async function list(dir: string, prefix: string, into: Map<string, StaticFile>, depth: number): Promise<void> {
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch {
    return
  }
  for (const e of entries) {
    const full = join(dir, e.name)
    if (e.isDirectory() && depth < 4) await list(full, `${prefix}${e.name}/`, into, depth + 1)
    else if (e.isFile() && TYPES[extname(e.name).toLowerCase()] !== undefined) into.set(`${prefix}${e.name}`, { path: full, type: TYPES[extname(e.name).toLowerCase()]! })
  }
}

/** The files of `dir`; the list is made again (at most once a second) when a path is missing, so a build made after start is picked up. */
export function staticFiles(dir: string): StaticFiles {
  let files = new Map<string, StaticFile>()
  let scannedAt = -Infinity
  const scan = async (): Promise<void> => {
    const next = new Map<string, StaticFile>()
    const index = join(dir, 'index.html')
    const top = new Map<string, StaticFile>()
    await list(dir, '/', top, 4)
    const html = top.get('/index.html')
    if (html !== undefined && html.path === index) next.set('/', html)
    await list(join(dir, 'assets'), '/assets/', next, 0)
    files = next
    scannedAt = performance.now()
  }
  return {
    async lookup(urlPath) {
      const hit = files.get(urlPath === '/index.html' ? '/' : urlPath)
      if (hit !== undefined || performance.now() - scannedAt < 1000) return hit
      await scan()
      return files.get(urlPath === '/index.html' ? '/' : urlPath)
    },
    read: (file) => readFile(file.path),
  }
}
