#!/usr/bin/env node
// Launcher: the node runs TypeScript with Node's built-in type stripping, which needs
// Node >= 22.18. The project pins that runtime as the npm package `node`; when this file
// is started by an older system Node (e.g. 20 after `npm install -g .`), re-exec on the pinned one.
// So this file itself runs on any Node >= 18, which is what package.json's `engines` says: a
// stricter range there only made npm print EBADENGINE on every `npx medrec` under Node 20.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const entry = join(root, 'cli', 'main.ts')
const [major, minor] = process.versions.node.split('.').map(Number)

if (major > 22 || (major === 22 && minor >= 18)) {
  // node:sqlite (the gatekeeper's database) still prints a one-time ExperimentalWarning on Node 22:
  // noise for users of a feature this project pins and tests. Every other warning passes through.
  const emitWarning = process.emitWarning
  process.emitWarning = function (warning, ...rest) {
    const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type
    if (type === 'ExperimentalWarning' && /SQLite/.test(String(warning))) return
    return emitWarning.call(process, warning, ...rest)
  }
  await import(pathToFileURL(entry).href)
} else {
  let pinned
  try {
    pinned = join(dirname(createRequire(join(root, 'package.json')).resolve('node/package.json')), 'bin', 'node')
  } catch {
    console.error(`medrec needs Node.js >= 22.18 (this is ${process.version}) and the pinned runtime is missing: run \`npm install\` in ${root}`)
    process.exit(1)
  }
  // This file again, not cli/main.ts: the warning filter above must run in the pinned process too.
  const child = spawn(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig))
  child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)))
}
