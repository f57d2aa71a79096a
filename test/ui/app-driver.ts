/**
 * Driving the MedRec app in a real headless Chromium the way a screen-reader user does: every
 * element is found by its role and accessible name (puppeteer's `::-p-aria(...)`, Chromium's own
 * accessibility tree), never by CSS class or DOM position. A node's app is opened through a
 * one-time sign-in link made from its data dir's JWT secret, as `medrec ui signin` makes it.
 */
import { mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import type { Browser, Page } from 'puppeteer-core'
import { makeSigninCode, signinLink } from '../../node/ui/signin.ts'
import { ROOT, jwtSecretOf } from '../helpers/node-process.ts'

/** How long one UI step may take: a transaction, its block (period 1 s) and the screen's next read. */
export const STEP_MS = 30_000

/** `::-p-aria([name="…"][role="…"])`: the element with exactly this accessible name (and role). */
export function aria(name: string, role?: string): string {
  return `::-p-aria([name=${JSON.stringify(name)}]${role === undefined ? '' : `[role=${JSON.stringify(role)}]`})`
}

/** A free TCP port on 127.0.0.1 (for `--ui.port`, so the app's URL is known before the node starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))))
    })
  })
}

export interface AppPage {
  page: Page
  /** The node's UI origin, e.g. http://127.0.0.1:8550/ */
  url: string
  /** Console errors and failed requests the page reported (a CSP violation shows up here). */
  problems: string[]
}

/** A tab signed in to the node of `datadir` whose UI serves at `url` (a fresh one-time code in the link's fragment). */
export async function openApp(browser: Browser, url: string, datadir: string): Promise<AppPage> {
  const page = await browser.newPage()
  page.setDefaultTimeout(STEP_MS)
  await page.setViewport({ width: 1100, height: 900 })
  const problems: string[] = []
  // A CSP violation or a script error is a console error; a failed load is seen with its URL below.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`)
  })
  // The browser asks every origin for /favicon.ico on its own; the app links none.
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`)
  })
  page.on('pageerror', (e) => problems.push(`page error: ${e instanceof Error ? e.message : String(e)}`))
  const code = await makeSigninCode(await jwtSecretOf(datadir))
  await page.goto(signinLink(url, code), { waitUntil: 'load' })
  // Signed in: the shell shows the "Sign out" button (the sign-in screen has none).
  await page.locator(aria('Sign out', 'button')).wait()
  return { page, url, problems }
}

/**
 * Chromium flags for several signed-in tabs side by side: a tab in the background would otherwise
 * get no animation frames (puppeteer's locators wait on them) and throttled timers (the screens poll).
 */
export const BROWSER_ARGS = ['--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows']

/** Opens a screen from the header's "Screens" navigation and waits for its heading. */
export async function show(app: AppPage, link: string, heading: string): Promise<void> {
  await app.page.bringToFront()
  await step(app, `open "${link}"`, async () => {
    await app.page.locator(aria(link, 'link')).click()
    await app.page.locator(aria(heading, 'heading')).wait()
  })
}

/** Runs a step; when it fails, the error also carries what the page showed (and a screenshot with UI_TEST_ARTIFACTS=DIR). */
async function step<T>(app: AppPage, what: string, run: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  // A page whose main thread hangs leaves a protocol call waiting 180 s; this names the step sooner.
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the page within ${STEP_MS + 10_000} ms`)), STEP_MS + 10_000)
  })
  try {
    return await Promise.race([run(), deadline])
  } catch (err) {
    const body = await bodyText(app).catch(() => '')
    const dir = process.env.UI_TEST_ARTIFACTS
    if (dir !== undefined && dir !== '') await app.page.screenshot({ path: join(dir, `failed-${Date.now()}.png`) as `${string}.png`, fullPage: true }).catch(() => undefined)
    throw new Error(`${what}: ${(err as Error).message}; the page shows:\n${body.slice(0, 3000)}`, { cause: err })
  } finally {
    clearTimeout(timer)
  }
}

export async function click(app: AppPage, name: string, role = 'button'): Promise<void> {
  await app.page.bringToFront()
  await step(app, `click ${role} "${name}"`, () => app.page.locator(aria(name, role)).click())
}

/** Clicks the button named `name` inside the region named `region` (e.g. one relationship's "Accept"). */
export async function clickIn(app: AppPage, region: string, name: string, role = 'button'): Promise<void> {
  await app.page.bringToFront()
  await step(app, `click ${role} "${name}" in region "${region}"`, () => app.page.locator(`${aria(region, 'region')} ${aria(name, role)}`).click())
}

/**
 * Types into the field labelled `label`: a textbox, or the role given ('spinbutton' for a number, null for any: a date);
 * `within` names the region (a section's heading) to look in, for a label that is not unique on the page.
 */
export async function fill(app: AppPage, label: string, value: string, role: string | null = 'textbox', within?: string): Promise<void> {
  await app.page.bringToFront()
  await step(app, `fill "${label}"`, () => app.page.locator(`${within === undefined ? '' : `${aria(within, 'region')} `}${aria(label, role ?? undefined)}`).fill(value))
}

/** Chooses the option of a labelled <select> whose text contains `text` (or whose value is it). */
export async function choose(app: AppPage, label: string, text: string): Promise<void> {
  await app.page.bringToFront()
  await step(app, `choose "${text}" in "${label}"`, async () => {
    const select = (await app.page.waitForSelector(aria(label, 'combobox')))!
    const options = (await select.evaluate((el: { options: ArrayLike<{ value: string; text: string }> }) => Array.from(el.options, (o) => ({ value: o.value, text: o.text })))) as { value: string; text: string }[]
    const value = options.find((o) => o.value === text || o.text.includes(text))?.value
    if (value === undefined) throw new Error(`no option containing "${text}" in "${label}" (it has ${options.map((o) => JSON.stringify(o.text)).join(', ')})`)
    await select.select(value)
  })
}

/** The "Confirm: <title…>" signing dialog: checks what it says it signs, then "Sign and send". */
export async function signAndSend(app: AppPage, titleStart: string): Promise<string> {
  await app.page.bringToFront()
  return step(app, `sign "${titleStart}…"`, async () => {
    const dialog = (await app.page.waitForSelector('dialog[open]'))!
    const heading = (await dialog.$eval('h2', (h: { textContent: string | null }) => h.textContent ?? '')) as string
    if (!heading.startsWith(`Confirm: ${titleStart}`)) throw new Error(`the signing dialog says "${heading}", expected "Confirm: ${titleStart}…"`)
    const text = (await dialog.evaluate((d: { textContent: string | null }) => d.textContent ?? '')) as string
    await app.page.locator(`dialog[open] ${aria('Sign and send', 'button')}`).click()
    await app.page.waitForFunction("document.querySelector('dialog[open]') === null")
    return text
  })
}

/** Waits until the page's visible text matches (a poll on the rendered page, with STEP_MS as the deadline). */
export async function waitForText(app: AppPage, text: string | RegExp, timeout = STEP_MS): Promise<void> {
  // A string expression: the test's tsconfig has no DOM types (the page's globals are the page's).
  const test = typeof text === 'string' ? `document.body.innerText.includes(${JSON.stringify(text)})` : `new RegExp(${JSON.stringify(text.source)}, ${JSON.stringify(text.flags)}).test(document.body.innerText)`
  await step(app, `wait for the page to show ${String(text)}`, () => app.page.waitForFunction(test, { timeout, polling: 250 }))
}

/** Whether an element matches now (no waiting). */
export async function has(app: AppPage, selector: string): Promise<boolean> {
  return step(app, `look for ${selector}`, async () => (await app.page.$(selector)) !== null)
}

/** The page's visible text. */
export async function bodyText(app: AppPage): Promise<string> {
  return (await app.page.evaluate('document.body.innerText')) as string
}

/** The visible text inside the element with this accessible name and role. */
export async function textOf(app: AppPage, name: string, role: string): Promise<string> {
  const el = await app.page.waitForSelector(aria(name, role))
  return (await el!.evaluate((e: { innerText: string }) => e.innerText)) as string
}

/** docs/ui/<name>.png, only with UPDATE_SCREENSHOTS=1 (so a CI run does not dirty the tree). */
export async function screenshot(app: AppPage, name: string): Promise<string | undefined> {
  if (process.env.UPDATE_SCREENSHOTS !== '1') return undefined
  const dir = join(ROOT, 'docs', 'ui')
  mkdirSync(dir, { recursive: true })
  const path = join(dir, `${name}.png`)
  await app.page.screenshot({ path: path as `${string}.png`, fullPage: true })
  return path
}

/** Horizontal overflow at the current viewport: the page must reflow, not scroll sideways (issue 21: a phone-sized screen). */
export async function overflowsSideways(app: AppPage): Promise<boolean> {
  return (await app.page.evaluate('document.documentElement.scrollWidth > document.documentElement.clientWidth + 1')) as boolean
}
