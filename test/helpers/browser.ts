/**
 * A real headless Chromium (Debian's `chromium` package) driven by puppeteer-core, for tests that
 * attack the node the way a web page would. The one place that finds the browser.
 */
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import puppeteer, { type Browser } from 'puppeteer-core'

const NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome']

/** CHROMIUM_PATH, else the first of NAMES on PATH; throws saying how to install it. */
export function chromiumPath(): string {
  const given = process.env.CHROMIUM_PATH
  if (given !== undefined && given !== '') return given
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of NAMES) {
      const p = join(dir, name)
      try {
        accessSync(p, constants.X_OK)
        return p
      } catch {
        // not here
      }
    }
  }
  throw new Error(`no Chromium found on PATH (looked for ${NAMES.join(', ')}): install Debian's package with "apt-get install -y chromium" (.ci/run does), or set CHROMIUM_PATH to a Chromium or Chrome binary`)
}

/** Headless Chromium with `args` added (e.g. --host-resolver-rules). Close it in a teardown. */
export async function launchChromium(args: string[] = []): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Root (CI) cannot use Chromium's sandbox; the pages loaded are the test's own.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', ...args],
    timeout: 60_000,
  })
}
