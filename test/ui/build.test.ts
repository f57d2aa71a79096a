import t from 'tap'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { buildUi } from '../../ui/build.ts'
import { ROOT, tempDir } from '../helpers/node-process.ts'

/**
 * The browser app's build (ui/build.ts): the files the UI server serves, nothing inline that the
 * server's Content-Security-Policy (script-src 'self'; style-src 'self') would block, nothing
 * loaded from another origin, and the same bytes from the same sources.
 */

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? sources(p) : /\.tsx?$/.test(name) ? [p] : []
  })
}

// One build shared by the checks below, a second one for determinism.
const a = tempDir('medrec-ui-a-')
t.teardown(a.remove)
const first = await buildUi(a.path)

t.test('the build writes index.html, assets/app.js and assets/app.css, the same bytes twice', async (t) => {
  const b = tempDir('medrec-ui-b-')
  t.teardown(b.remove)
  await buildUi(b.path)
  t.same(first.files, ['index.html', 'assets/app.js', 'assets/app.css'])
  for (const f of first.files) {
    const bytes = readFileSync(join(a.path, f))
    t.ok(bytes.length > 0, `${f} is not empty`)
    t.ok(bytes.equals(readFileSync(join(b.path, f))), `${f} is deterministic`)
  }
  t.same(readdirSync(join(a.path, 'assets')).sort(), ['app.css', 'app.js'], 'no other asset (no source map, no chunk)')
  const js = readFileSync(join(a.path, 'assets/app.js'), 'utf8')
  t.ok(js.length < 600_000, `the bundle stays small (${js.length} bytes)`)
  t.notMatch(js, /\bimport\s*\(\s*["']https?:/, 'no module is loaded from the internet')
  t.notMatch(js, /from\s*["']node:/, 'nothing of Node is bundled')
})

t.test('index.html has no inline script or style and loads only its own assets', async (t) => {
  const html = readFileSync(join(a.path, 'index.html'), 'utf8')
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)]
  t.equal(scripts.length, 1, 'one script element')
  for (const [, attrs, body] of scripts) {
    t.match(attrs, /\bsrc="\/assets\/app\.js"/, 'the script is the bundle, by src')
    t.equal(body!.trim(), '', 'and has no inline code')
  }
  t.notMatch(html, /<style\b/i, 'no <style> element')
  t.notMatch(html, /\sstyle\s*=/i, 'no style attribute')
  t.notMatch(html, /\son[a-z]+\s*=/i, 'no inline event handler')
  t.notMatch(html, /=\s*["']?\s*javascript:/i, 'no javascript: URL')
  t.notMatch(html, /(?:src|href)\s*=\s*"(?:https?:)?\/\//i, 'nothing from another origin')
  t.match(html, /<link rel="stylesheet" href="\/assets\/app\.css">/, 'the stylesheet by href')
})

t.test("the app's sources set no inline style (CSP style-src 'self' would block it)", async (t) => {
  const offenders = sources(join(ROOT, 'ui/src')).filter((f) => /\sstyle=\{|\.setAttribute\(\s*['"]style['"]|dangerouslySetInnerHTML|\beval\(|new Function\(/.test(readFileSync(f, 'utf8')))
  t.same(offenders, [], 'no style={…}, setAttribute("style"), innerHTML, eval or new Function in ui/src')
})
