/**
 * `medrec`: parses argv, dispatches to a command and maps failures to exit statuses:
 * 0 ok, 1 runtime failure (`Error: <message>`), 2 usage (`Error: ...` + `Run "... --help"`),
 * 130 Ctrl-C at a prompt. Stack traces only with --log.level debug or trace.
 */
import { readFileSync } from 'node:fs'
import { isCodedError } from '../common/errors.ts'
import { LOG_LEVELS, isLogLevel, setLogLevel } from '../common/logger.ts'
import { COMMON_FLAGS, parseFlags, suggest } from './args.ts'
import { accountGroup } from './commands/account.ts'
import { authorityGroup } from './commands/authority.ts'
import { benchGroup } from './commands/bench.ts'
import { bountyGroup } from './commands/bounty.ts'
import { patientGroup } from './commands/patient.ts'
import { peersCommand } from './commands/peers.ts'
import { providerGroup } from './commands/provider.ts'
import { sendCommand } from './commands/send.ts'
import { watchCommand } from './commands/watch.ts'
import { genesisGroup } from './commands/genesis.ts'
import { initCommand } from './commands/init.ts'
import { mineCommand, startCommand } from './commands/start.ts'
import { uiGroup } from './commands/ui.ts'
import { gatekeeperGroup } from './commands/gatekeeper.ts'
import { exitCodeOf, usageError } from './errors.ts'
import { commandHelp, groupHelp, rootHelp } from './help.ts'
import { out } from './io.ts'
import type { CommandSpec, GroupSpec, Spec } from './types.ts'

const SPECS: Spec[] = [startCommand, mineCommand, initCommand, accountGroup, sendCommand, genesisGroup, authorityGroup, peersCommand, providerGroup, patientGroup, bountyGroup, watchCommand, uiGroup, gatekeeperGroup, benchGroup]
const HELP = new Set(['--help', '-h'])

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** Mutable so the error report can point at the right `--help`. */
let current = 'medrec'
let verbose = false

function findSpec(word: string, among: readonly Spec[], parent: string): Spec {
  const spec = among.find((s) => s.path.split(' ').at(-1) === word)
  if (spec !== undefined) return spec
  const names = among.map((s) => s.path.split(' ').at(-1)!)
  if (parent === 'medrec') names.push('help', 'version')
  const near = suggest(word, names)
  throw usageError(`unknown command "${word}" for "${parent}"${near === undefined ? '' : ` (did you mean ${near}?)`}`)
}

/** `help`, `help start`, `help account new`. */
function help(words: string[]): void {
  let spec: Spec | undefined
  let parent = 'medrec'
  let among: readonly Spec[] = SPECS
  for (const w of words) {
    if (spec?.kind === 'command') throw usageError(`"medrec ${spec.path}" has no subcommand "${w}"`)
    spec = findSpec(w, among, parent)
    if (spec.kind === 'group') {
      among = spec.commands
      parent = `medrec ${spec.path}`
    }
  }
  if (spec === undefined) out(rootHelp(SPECS, version()))
  else out(spec.kind === 'group' ? groupHelp(spec) : commandHelp(spec))
}

async function runCommand(c: CommandSpec, argv: string[]): Promise<void> {
  current = `medrec ${c.path}`
  if (argv.some((a) => HELP.has(a))) return out(commandHelp(c))
  const flags = parseFlags(argv, [...c.flags, ...COMMON_FLAGS], current, c.positionals !== undefined)
  const level = flags.string('log.level')
  if (level !== undefined) {
    if (!isLogLevel(level)) throw usageError(`invalid value for --log.level: expected one of ${LOG_LEVELS.join(', ')}, got "${level}"`)
    setLogLevel(level)
    verbose = level === 'debug' || level === 'trace'
  }
  await c.run(flags)
}

async function runGroup(g: GroupSpec, argv: string[]): Promise<void> {
  current = `medrec ${g.path}`
  const [word, ...rest] = argv
  if (word === undefined) throw usageError(`"${current}" needs a command: ${g.commands.map((c) => c.path.split(' ').at(-1)).join(', ')}`)
  if (HELP.has(word)) return out(groupHelp(g))
  if (word.startsWith('-')) throw usageError(`"${current}" needs a command before flags: ${g.commands.map((c) => c.path.split(' ').at(-1)).join(', ')}`)
  const spec = findSpec(word, g.commands, current)
  return runCommand(spec as CommandSpec, rest)
}

async function main(argv: string[]): Promise<void> {
  const [word, ...rest] = argv
  if (word === undefined) {
    process.stderr.write(rootHelp(SPECS, version()))
    throw usageError('no command given')
  }
  if (HELP.has(word) || word === 'help') return help(rest.filter((w) => !HELP.has(w)))
  if (word === '--version' || word === 'version') return out(`medrec ${version()} (node ${process.version}, ${process.platform}-${process.arch})`)
  if (word.startsWith('-')) {
    const near = suggest(word.replace(/^--?/, '').split('=')[0]!, ['help', 'version'])
    throw usageError(`unknown flag ${word.split('=')[0]} for "medrec"${near === undefined ? '' : ` (did you mean --${near}?)`}; command flags go after the command`)
  }
  const spec = findSpec(word, SPECS, 'medrec')
  return spec.kind === 'group' ? runGroup(spec, rest) : runCommand(spec, rest)
}

function report(err: unknown): void {
  const code = exitCodeOf(err)
  const message = err instanceof Error ? err.message : String(err)
  let text = `Error: ${message}\n`
  if (code === 2) text += `Run "${current} --help" for usage.\n`
  if (verbose && err instanceof Error) {
    text += `${err.stack ?? ''}\n`
    for (let c = err.cause; c !== undefined; c = c instanceof Error ? c.cause : undefined) text += `Caused by: ${c instanceof Error ? (c.stack ?? c.message) : String(c)}\n`
  } else if (!isCodedError(err) && code === 1) {
    // Not one of ours: likely a bug, so say how to get the details for a report.
    text += 'Run again with --log.level debug for the stack trace.\n'
  }
  process.stderr.write(text)
  process.exitCode = code
}

try {
  await main(process.argv.slice(2))
} catch (err) {
  report(err)
  // Exit even if a half-started module left a handle open; the delay lets piped output drain.
  setTimeout(() => process.exit(), 500).unref()
}
