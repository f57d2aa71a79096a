/** The shapes the command table is made of; kept apart so help, the parser and commands share them. */

export interface FlagSpec {
  /** Without the dashes, as geth spells them: `rpc.port`, `datadir`. */
  name: string
  kind: 'string' | 'boolean'
  /** Value placeholder shown in help: `DIR`, `FILE`. */
  placeholder?: string
  /** Shown in help for every flag: a value, or `none` / `off` / `required`. */
  default: string
  description: string
  /** May be given more than once (`--alloc`); all values are kept in order. */
  repeatable?: boolean
}

/** Flags after parsing; only names from the command's spec are ever present. */
export interface ParsedFlags {
  /** `medrec start`, for messages. */
  readonly command: string
  string(name: string): string | undefined
  boolean(name: string): boolean
  all(name: string): string[]
  has(name: string): boolean
  /** Words that are not flags, for a command with `positionals`. */
  readonly positionals: readonly string[]
}

export interface CommandSpec {
  kind: 'command'
  /** Words after `medrec`: `start`, `account new`. */
  path: string
  summary: string
  /** Synopsis after `medrec `. */
  usage: string
  description: string
  flags: FlagSpec[]
  /** Positional arguments' placeholder (`DIR...`); without it any positional word is a usage error. */
  positionals?: string
  examples?: string[]
  run(flags: ParsedFlags): Promise<void>
}

/** A command with subcommands (`account`, `genesis`). */
export interface GroupSpec {
  kind: 'group'
  path: string
  summary: string
  description: string
  commands: CommandSpec[]
}

export type Spec = CommandSpec | GroupSpec
