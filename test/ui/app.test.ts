import t from 'tap'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import type { Browser } from 'puppeteer-core'
import { toHex } from 'viem'
import { createMedRecClient } from '../../contracts/client/index.ts'
import type { FetchResult, RelationshipView } from '../../gatekeeper/api.ts'
import { buildUi } from '../../ui/build.ts'
import { medrec } from '../cli/run-cli.ts'
import { launchChromium } from '../helpers/browser.ts'
import { createTestNetwork, gatekeeperArgs, type TestNetwork } from '../helpers/network.ts'
import { ROOT, rpc, rpcRaw, waitFor } from '../helpers/node-process.ts'
import { BROWSER_ARGS, aria, bodyText, has, clickIn, choose, click, fill, freePort, openApp, overflowsSideways, screenshot, show, signAndSend, textOf, waitForText, type AppPage } from './app-driver.ts'

/**
 * Issue 21's "Must show": the MedRec app in a real headless Chromium across three real node
 * processes, driven by accessible names only. A provider (the one authority, sealing; gatekeeper,
 * k = 1 so one patient's aggregate is released), a patient and a third party (synced peers, each
 * with its own gatekeeper account), each node serving its own app on its own port.
 *   - the paper's Figure 2: the provider adds a patient and a record; the patient is notified live
 *     (server-sent events, no reload), accepts, and reads her records verified against the chain;
 *   - third-party sharing with an expiry, then a revocation; a grant that expires shows as expired
 *     and the provider's gatekeeper refuses it;
 *   - records changed in the provider's database behind the chain are flagged as tampered;
 *   - a bounty collected on the researcher screen, exported as CSV (the CLI's bytes);
 *   - a vote on the operator screen that adds an authority.
 * With UPDATE_SCREENSHOTS=1 it writes each role's main screen to docs/ui/*.png.
 */

const [PROVIDER, PATIENT, THIRD] = [0, 1, 2] as const
let net: TestNetwork
let browser: Browser
const apps: AppPage[] = []
let relationship = ''

const member = (i: number) => net.members[i]!
const node = (i: number) => member(i).node!

/** ui/dist is built by `npm install`; rebuilt here when missing or older than a source file, so the test runs today's app. */
async function ensureBuilt(): Promise<void> {
  const out = join(ROOT, 'ui', 'dist', 'assets', 'app.js')
  const newest = (dir: string): number =>
    Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)))
  if (existsSync(out) && statSync(out).mtimeMs >= newest(join(ROOT, 'ui', 'src'))) return
  await buildUi()
}

async function addPatient(identity: string, address: string): Promise<void> {
  const provider = apps[PROVIDER]!
  await fill(provider, 'Patient identity', identity)
  await fill(provider, 'Patient account address', address)
  await click(provider, 'Add patient')
  await signAndSend(provider, `Add patient ${identity}`)
  await waitForText(provider, `Added patient ${identity}`)
}

t.before(async () => {
  await ensureBuilt()
  net = await createTestNetwork(3, { authorities: 1, period: 1 })
  const ports = [await freePort(), await freePort(), await freePort()]
  const ui = (i: number) => ['--ui', '--ui.port', String(ports[i])]
  await net.start(PROVIDER, { args: gatekeeperArgs(member(PROVIDER), ['--gatekeeper.k', '1', ...ui(PROVIDER)]) })
  await net.start(PATIENT, { sealer: false, args: gatekeeperArgs(member(PATIENT), ui(PATIENT)) })
  await net.start(THIRD, { sealer: false, args: gatekeeperArgs(member(THIRD), ui(THIRD)) })
  browser = await launchChromium(BROWSER_ARGS)
  for (const i of [PROVIDER, PATIENT, THIRD]) apps[i] = await openApp(browser, `http://127.0.0.1:${ports[i]}/`, member(i).datadir)
  // The patient and the third party have no identity yet: they open their records screen once
  // the provider has registered them (a screen opened before keeps its no-identity notice: see the report).
  for (const i of [PATIENT, THIRD]) await show(apps[i]!, 'Operator', 'Operator')
})
t.teardown(async () => {
  await browser?.close()
  await net?.close()
})

t.test("Figure 2 in the app: the provider adds a patient and a record; the patient is notified live, accepts, reads them verified", async (t) => {
  const [provider, patient] = [apps[PROVIDER]!, apps[PATIENT]!]
  await show(provider, 'Provider', 'Provider')
  // Steps 1–3: the identity, the relationship with its pointer, the link into her Summary.
  await addPatient('alice-1970', member(PATIENT).address)
  await show(patient, 'Patient', 'My records')
  await waitForText(patient, 'Live: new notifications appear here')
  await waitForText(patient, 'No provider has added you yet')
  // A text field with suggestions (a datalist): a combobox.
  await fill(provider, 'Record for patient', 'alice-1970', 'combobox')
  await choose(provider, 'Record type', 'Observation')
  await fill(provider, 'Code', '8480-6')
  await fill(provider, 'What it is, in words', 'Systolic blood pressure')
  await fill(provider, 'Value', '128', 'spinbutton')
  await fill(provider, 'Unit', 'mmHg')
  await click(provider, 'Add record')
  const said = await signAndSend(provider, 'Add')
  t.match(said, /Observation record for alice-1970/, 'the dialog names the record and the patient')
  t.match(said, /no value/, 'and says the chain gets no value')
  await waitForText(provider, /Record stored; created a new relationship/)
  // The list re-read from the chain, with whether her shares need the provider's consent.
  await waitForText(provider, 'Patient decides alone')
  await screenshot(provider, 'provider')

  // Steps 4–5: her node synced the block; its watch service notifies; the open page hears it
  // over /medrec/events without a reload.
  await waitForText(patient, /accept or reject/i)
  const rels = await rpc<RelationshipView[]>(node(PATIENT).url, 'medrec_relationships')
  relationship = rels[0]!.relationship
  t.equal(rels[0]!.status, 'awaiting-approval', 'the chain has the relationship waiting for her')
  await clickIn(patient, `Relationship ${relationship}`, 'Accept')
  const accepted = await signAndSend(patient, 'Accept the relationship')
  t.match(accepted, /signs a transaction/, 'the dialog says in words what is signed')
  // Steps 6–9: accepted on chain; her node fetches from the provider's gatekeeper and checks the hash.
  await waitForText(patient, /Status: Accepted/i)
  await clickIn(patient, `Relationship ${relationship}`, 'Fetch records')
  await waitForText(patient, 'Verified against the chain')
  const records = await bodyText(patient)
  t.match(records, /128/, 'the value as she reads it')
  t.match(records, /mmHg/, 'with its unit')
  t.notMatch(records, /Tampered/, 'nothing flagged')
  await screenshot(patient, 'patient')
})

t.test('a key held only in the browser (keystore file): the patient fetches through the node relay and reads them verified, and her audit log', async (t) => {
  t.ok(relationship, 'needs the relationship of Figure 2')
  // Her own node's app, signed in with her keystore in the tab (no sign-in link, no session): the
  // request is signed here, relayed by the node (POST /api/gatekeeper), decrypted and checked here.
  const page = await browser.newPage()
  t.teardown(() => page.close())
  page.setDefaultTimeout(30_000)
  const app: AppPage = { page, url: apps[PATIENT]!.url, problems: [] }
  page.on('pageerror', (e) => app.problems.push(`page error: ${e instanceof Error ? e.message : String(e)}`))
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) app.problems.push(`console: ${m.text()}`)
  })
  await page.goto(app.url, { waitUntil: 'load' })
  const keystoreDir = join(member(PATIENT).datadir, 'keystore')
  const file = await page.$('#si-ks-file')
  await file!.uploadFile(join(keystoreDir, readdirSync(keystoreDir)[0]!))
  await fill(app, 'Keystore password', readFileSync(join(member(PATIENT).datadir, 'password'), 'utf8').trim(), null)
  await click(app, 'Unlock keystore')
  await page.locator(aria('Sign out', 'button')).wait()
  await show(app, 'Patient', 'My records')
  await clickIn(app, `Relationship ${relationship}`, 'Fetch records')
  await waitForText(app, 'Verified against the chain')
  t.match(await bodyText(app), /128/, 'her value, decrypted in the tab')
  // The audit log the same way: signed here, relayed, decrypted and checked against the anchor here.
  await click(app, 'Load audit log')
  await waitForText(app, 'is intact (every entry links to the next)')
  t.match(await textOf(app, 'Who read what, when', 'table'), /Read/, 'who read what, when: her reads, checked in the tab')
  t.same(app.problems, [], 'no script error or CSP violation on the way')
})

t.test('third party: shared with an expiry through the app, read verified (that subset only), then revoked', async (t) => {
  t.ok(relationship, 'needs the relationship of Figure 2')
  const [provider, patient, third] = [apps[PROVIDER]!, apps[PATIENT]!, apps[THIRD]!]
  // The third party needs an identity (and so a Summary) to be found and notified.
  await addPatient('research-lab-7', member(THIRD).address)
  // The provider's consent case: this relationship's shares need its approval from now on.
  await click(provider, 'Require consent for alice-1970')
  await signAndSend(provider, "Require your consent for alice-1970's shares")
  await waitForText(provider, "alice-1970's shares now need your consent.")
  const atPatient = createMedRecClient({ rpcUrl: node(PATIENT).url, privateKey: toHex(member(PATIENT).key) }).relationship(relationship)
  await waitFor(async () => ((await atPatient.info()).consentRequired ? true : undefined), "the consent rule on the patient's node", 30_000)
  await click(patient, 'Refresh relationships')
  await waitForText(patient, 'This provider requires its consent to each grant')

  await show(third, 'Patient', 'My records')
  await choose(patient, 'Relationship', relationship)
  await fill(patient, "Person's MedRec identity", 'research-lab-7')
  await click(patient, 'Look up')
  await waitForText(patient, 'Found: research-lab-7')
  await click(patient, 'Observation: code', 'checkbox')
  await click(patient, 'Observation: valueQuantity', 'checkbox')
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)
  await fill(patient, 'Expires on', tomorrow, null)
  await click(patient, 'Share')
  const said = await signAndSend(patient, 'Share')
  t.match(said, /expires at the end of/, 'the dialog names the expiry')
  t.match(said, /provider must consent/, 'and that the provider must consent')

  // The grant reaches the third party's node (notification), and its page shows it live.
  await waitForText(third, /Shared with you by/)
  await waitForText(third, /Your access: Active until/)
  // It reads nothing until the provider approves the grant it is shown.
  await click(provider, 'Refresh list')
  // By keyboard: the page above it re-renders as notices come and go, and a keypress needs no coordinates.
  const approve = aria('Approve sharing with research-lab-7', 'button')
  await provider.page.locator(approve).wait()
  await provider.page.focus(approve)
  await provider.page.keyboard.press('Enter')
  const approval = await signAndSend(provider, "Approve sharing alice-1970's records with research-lab-7")
  t.match(approval, /approving grant \d+ on relationship/, 'the dialog names the grant it approves')
  await waitForText(provider, 'Approved: research-lab-7 may now read what alice-1970 shared.')
  await waitForText(provider, 'No grant is waiting for consent.')
  // Approved: the third party's watch service fetches by itself now; its click below comes after that fetch.
  await waitForText(third, /Fetched and verified \d+ pointer\(s\) of/)
  const region = aria(`Relationship ${relationship}`, 'region')
  await clickIn(third, `Relationship ${relationship}`, 'Fetch records')
  await waitForText(third, 'Verified against the chain')
  await waitForText(third, /Only some fields were shared with you: code, valueQuantity/)
  await screenshot(third, 'third-party')

  // Revocation: from the patient's list of grants.
  await click(patient, 'Revoke research-lab-7')
  await signAndSend(patient, "Revoke research-lab-7's access")
  await waitForText(patient, /research-lab-7\s+revoked/)
  await click(third, 'Refresh relationships')
  await waitForText(third, 'Revoked or not active')
  t.notOk(await has(third, `${region} ${aria('Fetch records', 'button')}`), 'no fetch offered once revoked')
  const refused = await rpcRaw(node(THIRD).url, 'medrec_fetch', [{ relationship }])
  t.ok(refused.error, 'and the provider refuses the revoked grant')
  // Off again, so that the next refusal is the expiry's alone.
  await rpc(node(PROVIDER).url, 'medrec_requireConsent', [{ relationship, required: false }])
})

t.test('refusal: a grant that has expired shows as expired, and the gatekeeper refuses it', async (t) => {
  const [patient, third] = [apps[PATIENT]!, apps[THIRD]!]
  // The date picker gives whole days: an expiry seconds ahead is made through the patient's node,
  // then chain time passes it (blocks every second) and both screens must say so.
  const head = await rpc<{ timestamp: string }>(node(PATIENT).url, 'eth_getBlockByNumber', ['latest', false])
  const expiresAt = Number(BigInt(head.timestamp)) + 6
  await rpc(node(PATIENT).url, 'medrec_share', [{ relationship, viewer: member(THIRD).address, items: [{ pointerId: 0, fields: [0] }], expiresAt }])
  await waitFor(async () => {
    const rels = await rpc<RelationshipView[]>(node(THIRD).url, 'medrec_relationships')
    return rels.find((r) => r.relationship === relationship)?.grant?.active === true ? true : undefined
  }, 'the new grant on the third party node', 30_000)
  await waitFor(async () => {
    const b = await rpc<{ timestamp: string }>(node(THIRD).url, 'eth_getBlockByNumber', ['latest', false])
    return Number(BigInt(b.timestamp)) > expiresAt ? true : undefined
  }, 'chain time past the expiry', 30_000)
  await click(third, 'Refresh relationships')
  await waitForText(third, /Your access: Expired on/)
  const region = aria(`Relationship ${relationship}`, 'region')
  t.notOk(await has(third, `${region} ${aria('Fetch records', 'button')}`), 'no fetch offered for an expired grant')
  const refused = await rpcRaw(node(THIRD).url, 'medrec_fetch', [{ relationship }])
  t.ok(refused.error, `the provider refuses the expired grant: ${refused.error?.message ?? ''}`)
  await click(patient, 'Refresh relationships')
  await waitForText(patient, /research-lab-7\s+expired on/)
})

t.test("refusal: records changed in the provider's database behind the chain are flagged as tampered", async (t) => {
  const patient = apps[PATIENT]!
  const db = new DatabaseSync(join(member(PROVIDER).datadir, 'gatekeeper', 'records.sqlite'))
  const table = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%bservation%'").get() as { name: string }).name
  const rows = db.prepare(`SELECT id, resource FROM ${table}`).all() as { id: string; resource: string }[]
  t.ok(rows.length > 0, 'the provider holds her observation')
  for (const r of rows) db.prepare(`UPDATE ${table} SET resource = ? WHERE id = ?`).run(r.resource.replace('128', '182'), r.id)
  db.close()
  await clickIn(patient, `Relationship ${relationship}`, 'Fetch records')
  await waitForText(patient, 'Tampered: these records do not match the chain')
  const fetched = await rpc<FetchResult>(node(PATIENT).url, 'medrec_fetch', [{ relationship }]).catch((err: Error) => err)
  t.ok(fetched instanceof Error ? /TAMPERED/i.test(fetched.message) : fetched.pointers.some((p) => p.status === 'tampered'), 'the node says the same')
  // She deletes the relationship from her list with her node's account (medrec_delete).
  await clickIn(patient, `Relationship ${relationship}`, 'Delete')
  await signAndSend(patient, 'Delete the relationship')
  await waitForText(patient, /Status: Deleted/)
})

t.test('researcher: the provider (the block author) collects a bounty; the aggregate as table and chart; CSV export in the browser', async (t) => {
  const app = apps[PROVIDER]!
  await show(app, 'Researcher', 'Researcher')
  await app.page.locator(aria('Bounties', 'table')).wait()
  await click(app, 'Collect bounty 0')
  const said = await signAndSend(app, 'Collect bounty 0')
  t.match(said, /no record and no patient is sent/)
  await waitForText(app, 'Signed by the provider')
  const table = await textOf(app, 'Aggregates of bounty 0', 'table')
  t.match(table, /patients/, 'the released cells as a table')
  t.ok(await has(app, aria('Data table: Bounty 0: value by group')), 'the chart has its table for screen readers')

  // The download is a Blob made in the page: its bytes are `medrec bounty export --csv`'s.
  const dir = mkdtempSync(join(tmpdir(), 'medrec-csv-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cdp = await app.page.createCDPSession()
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: dir })
  await click(app, 'Export CSV')
  const file = join(dir, 'medrec-bounties.csv')
  await waitFor(async () => (existsSync(file) ? true : undefined), 'the CSV download', 15_000)
  const cliFile = join(dir, 'cli.csv')
  const cli = await medrec(['bounty', 'export', '--csv', '--out', cliFile, '--rpc', node(PROVIDER).url, '--datadir', member(PROVIDER).datadir])
  t.equal(cli.code, 0, cli.stderr)
  const csv = readFileSync(file, 'utf8')
  t.equal(csv, readFileSync(cliFile, 'utf8'), 'the same bytes as `medrec bounty export --csv --out FILE`')
  t.match(csv, /,8480-6,1,1,1\r\n$/, "her one observation's cell: k = 1 releases it")
  await screenshot(app, 'researcher')
  await app.page.setViewport({ width: 360, height: 740 })
  t.notOk(await overflowsSideways(app), 'the researcher screen reflows at 360 px')
  await app.page.setViewport({ width: 1100, height: 900 })
})

t.test('operator: chain, authorities and turns, a vote that adds an authority, metrics charts', async (t) => {
  const app = apps[PROVIDER]!
  const third = member(THIRD).address.toLowerCase()
  await show(app, 'Operator', 'Operator')
  await waitForText(app, /1 authority;/)
  await app.page.locator(aria('Chain head', 'figure')).wait()
  t.notOk(await has(app, aria('Discard the vote on ' + third, 'button')), 'no open vote yet')
  await fill(app, 'Authority address', third)
  await click(app, 'Add as an authority', 'radio')
  await click(app, 'Propose')
  const said = await signAndSend(app, `Vote to add ${third} as an authority`)
  t.match(said, /authority key will cast a vote/, 'the dialog says what the vote does')
  // One authority: its own vote is a majority, so the next block it seals adds the third party.
  await waitForText(app, /2 authorities;/)
  const signers = await rpc<string[]>(node(PROVIDER).url, 'clique_getSigners')
  t.ok(signers.map((s) => s.toLowerCase()).includes(third), 'the chain counts the new authority')
  const authorities = await textOf(app, 'Authorities', 'table')
  t.match(authorities, new RegExp(third), 'the screen lists it with its turn')
  await screenshot(app, 'operator')
  await app.page.setViewport({ width: 360, height: 740 })
  t.notOk(await overflowsSideways(app), 'the operator screen reflows at 360 px')
  for (const a of apps) t.same(a.problems, [], `${a.url}: no console errors or CSP violations`)
})
