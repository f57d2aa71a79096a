/**
 * The app's screens: the shell (ui/src/shell/) shows one at a time, picked by the URL fragment
 * (`#/patient`, `#/provider`, `#/operator`, `#/researcher`) from the role switcher in the header.
 *
 * HOW A SCREEN PLUGS IN (helper uiops21: operator*, researcher*):
 *   1. Write `ui/src/screens/operator.tsx` exporting `OperatorScreen: ComponentType<ScreenProps>`.
 *   2. Add its import and one entry to SCREENS below (those lines are yours to edit):
 *        import { OperatorScreen } from './operator.tsx'
 *        { id: 'operator', title: 'Operator', component: OperatorScreen, needs: 'node' },
 *   A screen renders its own `<h1>` (the shell renders none) and its own `<h2>` sections.
 *   Props (ScreenProps, ui/src/shell/types.ts): `session` (who is signed in: the node's account
 *   with a bearer token, or a key held in the browser), `rpc` (JSON-RPC over same-origin /rpc with
 *   the token; rejects with RpcError whose `.message` is the node's own words), `notify(text)`
 *   (the polite live region), `fail(err)` (the error banner: shows RpcError messages as the node
 *   words them), `confirm({ title, lines, signer })` (the "Confirm: …" dialog before anything is
 *   signed; resolves true on "Sign and send"). From ../api/index.ts: `metrics(token)` GETs
 *   /api/metrics, `readClient(rpc)` reads contracts (eth_call). Use only these (no fetch of your own
 *   to other origins; CSP forbids it anyway). No inline styles: classes from ui/src/app.css
 *   (`.card`, `.row`, `.muted`, `.ok`, `.warn`, `.bad`, `table.data`, `button.primary`).
 *
 * ACCESSIBLE NAMES (for test/ui/app.test.ts, `::-p-aria(...)`; names are exact, so mind "Patient"
 * (the nav link) against "Patient identity" and "Record for patient"):
 *   Shell: nav "Screens" (links "Patient", "Provider", "Operator", "Researcher"; the current one has
 *     aria-current=page), button "Sign out", status region "Announcements" (polite live region: each
 *     notify() text as a paragraph, gone after 8 s), alert region "Error" (its text is the node's own
 *     message, with the error code in parentheses; button "Dismiss error"). A new route clears the error.
 *   Sign-in (h1 "Sign in to MedRec"): a `#signin=<code>` link signs in by itself (no button; without
 *     a link the card says to run `medrec ui signin`); textbox "Recovery phrase (12 words)", spinbutton
 *     "Account number in the phrase" (0 = m/44'/60'/0'/0/0; the dev mnemonic's account 2 is 2), button
 *     "Use recovery phrase"; file input "Keystore file (JSON)", textbox "Keystore password", button
 *     "Unlock keystore".
 *   Patient (h1 "My records"): h2 "Notifications" (list "Recent notifications", each the node's
 *     message), h2 "My relationships" (button "Refresh relationships"; each relationship a region named
 *     "Relationship 0x<lowercase address>" with its h3, "Status: <words>" (Waiting for your approval /
 *     New records waiting for your approval / Accepted / Rejected / Deleted), buttons "Accept", "Reject",
 *     "Fetch records", "Delete"; for a viewer "Your access: Active … / Expired on … / Revoked or not active";
 *     for an accepted relationship h4 "Shared with" and a button "Revoke <identity or address>" per
 *     active grant), h2 "Records" (per pointer a group "<ResourceType> (pointer N)" with "✔ Verified
 *     against the chain" or an alert "Tampered: these records do not match the chain. …"; each record
 *     an article "<Kind>: <title>"), h2 "Share records" (combobox "Relationship", textbox "Person's
 *     MedRec identity" (an identity or 0x address), button "Look up" → status "Found: …", checkboxes
 *     "<ResourceType>: <field>", date input "Expires on", button "Share"), h2 "Audit log" (combobox
 *     "Relationship to audit", button "Load audit log", table "Who read what, when").
 *   Provider (h1 "Provider"): h2 "Patients and relationships" (buttons "Refresh list", "Publish changed
 *     records"; table "Relationships this gatekeeper serves (…)": Patient, Patient's decision, Records on
 *     chain, Shares (button "Require consent for <identity>" / "Stop requiring consent for <identity>"),
 *     Relationship), h2 "Add a patient" (textboxes "Patient identity", "Patient account address",
 *     button "Add patient"), h2 "Add a record" (combobox "Record for patient" (an identity), combobox
 *     "Record type", combobox "Code system of the code", textboxes "Code", "What it is, in words", per
 *     type e.g. "Value", "Unit", "Date"; checkboxes "Field: <element>" and "Code system: <name>";
 *     comboboxes "Bounty aggregate", "Bounty grouped by"; button "Add record"), h2 "Import records"
 *     (file input "FHIR bundle or CSV file", combobox "CSV record type", checkbox "Publish to the
 *     chain", button "Import", progressbar "Import progress", table "Entries refused"), h2 "Consent
 *     requests" (per waiting grant a sentence and a button "Approve sharing with <identity or address>").
 *   Every signing action opens a modal dialog named "Confirm: <what>" saying in words what is signed
 *   and by whom, with buttons "Sign and send" and "Cancel".
 */
import type { ComponentType } from 'preact'
import type { ScreenProps } from '../shell/types.ts'
import { PatientScreen } from './patient.tsx'
import { ProviderScreen } from './provider.tsx'
import { OperatorScreen } from './operator.tsx'
import { ResearcherScreen } from './researcher.tsx'

export interface ScreenDef {
  /** The fragment route: `#/<id>`. */
  id: string
  /** The link text in the header's "Screens" nav. */
  title: string
  component: ComponentType<ScreenProps>
  /**
   * 'node': needs the node's account (a node sign-in: the medrec_* operations act with the node's
   * gatekeeper, admin/clique with its keys); 'any': also usable with a key held in the browser.
   * The shell still lists a 'node' screen for a browser-key session, with a sentence saying why it
   * is not available.
   */
  needs: 'node' | 'any'
}

export const SCREENS: ScreenDef[] = [
  { id: 'patient', title: 'Patient', component: PatientScreen, needs: 'any' },
  { id: 'provider', title: 'Provider', component: ProviderScreen, needs: 'node' },
  { id: 'operator', title: 'Operator', component: OperatorScreen, needs: 'node' },
  { id: 'researcher', title: 'Researcher', component: ResearcherScreen, needs: 'node' },
]
