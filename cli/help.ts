import { COMMON_FLAGS } from './args.ts'
import type { CommandSpec, FlagSpec, GroupSpec, Spec } from './types.ts'

function flagLines(flags: readonly FlagSpec[]): string[] {
  const left = flags.map((f) => `--${f.name}${f.kind === 'string' ? ` ${f.placeholder ?? 'VALUE'}` : ''}${f.repeatable === true ? ' ...' : ''}`)
  const width = Math.max(...left.map((l) => l.length)) + 2
  return flags.map((f, i) => `  ${left[i]!.padEnd(width)}${f.description} [default: ${f.default}]`)
}

function table(rows: Array<[string, string]>): string[] {
  const width = Math.max(...rows.map(([a]) => a.length)) + 2
  return rows.map(([a, b]) => `  ${a.padEnd(width)}${b}`)
}

export function commandHelp(c: CommandSpec): string {
  const lines = [`Usage: medrec ${c.usage}`, '', c.description, '', 'Flags:', ...flagLines(c.flags), '', 'Global flags:', ...flagLines(COMMON_FLAGS)]
  if (c.examples !== undefined && c.examples.length > 0) lines.push('', 'Examples:', ...c.examples.map((e) => `  ${e}`))
  return lines.join('\n') + '\n'
}

export function groupHelp(g: GroupSpec): string {
  return [
    `Usage: medrec ${g.path} <command> [flags]`,
    '',
    g.description,
    '',
    'Commands:',
    ...table(g.commands.map((c) => [c.path.split(' ').at(-1)!, c.summary])),
    '',
    `Run "medrec ${g.path} <command> --help" for a command's flags.`,
  ].join('\n') + '\n'
}

export function rootHelp(specs: readonly Spec[], version: string): string {
  return [
    `medrec ${version}: a MedRec blockchain node (Proof-of-Authority, EVM, Ethereum JSON-RPC)`,
    '',
    'Usage: medrec <command> [flags]',
    '',
    'Commands:',
    ...table([
      ...specs.map((s): [string, string] => [s.path, s.summary]),
      ['help [command]', 'show help for a command'],
      ['version', 'print the version (also --version)'],
    ]),
    '',
    'Global flags:',
    ...flagLines([...COMMON_FLAGS, { name: 'version', kind: 'boolean', default: 'off', description: 'print the version' }]),
    '',
    'Run "medrec <command> --help" for a command\'s flags.',
    'Quick start: medrec start --dev',
  ].join('\n') + '\n'
}
