import { isLogLevel, createLogger, type LogLevel } from '../../common/logger.ts'
import { errorMessage } from '../../common/errors.ts'
import { formatDuration, parseDuration } from '../../common/duration.ts'
import { readFile } from 'node:fs/promises'
import { relative, resolve } from 'node:path'
import { DEFAULT_UI, type UiConfig } from '../../node/config/index.ts'
import { loadSignin, makeSigninCode, signinLink } from '../../node/ui/signin.ts'
import { DEFAULT_CALL_WORKERS, DEFAULT_GC_MODE, DEFAULT_METRICS, DEFAULT_MIN_FREE_DISK_MB, DEFAULT_PRICE_LIMIT, DEV_DATADIR, DEFAULT_P2P, DEFAULT_RPC_EVM_TIMEOUT_MS, DEFAULT_RPC_GAS_CAP, DEFAULT_STATE_RECENT, DEFAULT_SYNC_MODE, type AuthorityKey, type MetricsConfig, type NodeConfig, type P2PConfig, type RpcConfig } from '../../node/config/index.ts'
import { DEFAULT_GATEKEEPER, type GatekeeperOptions } from '../../gatekeeper/options.ts'
import { loadSuppliedTls } from '../../gatekeeper/tls.ts'
import { DEFAULT_POSTGRES } from '../../gatekeeper/db/postgres-options.ts'
import { createDevGenesis, describeSealing, devAccounts, type Genesis } from '../../node/genesis/index.ts'
import { DEV_MNEMONIC, openKeystore, toChecksumAddress } from '../../node/keys/index.ts'
import { parseAddressFlag, parseInteger, parsePort, parseWei } from '../args.ts'
import { CliError, CliErrorCode, usageError } from '../errors.ts'
import { assertPasswordSource, getPassword, note, out } from '../io.ts'
import type { CommandSpec, ParsedFlags } from '../types.ts'
import { DEFAULT_RPC, DEV_APIS, NAMESPACES, defaultJwtSecretPath, loadOrCreateJwtSecret } from '../../node/rpc/access.ts'
import { datadirPaths, ensureNodeKey, exists, makeDatadir, readDatadirGenesis, secureDatadir, writeGenesis } from './shared.ts'

const log = createLogger('cli')
const DEV_PERIOD = 2
const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}`

function rpcConfig(flags: ParsedFlags, dev: boolean): RpcConfig {
  const addr = flags.string('rpc.addr') ?? DEFAULT_RPC.addr
  const port = flags.has('rpc.port') ? parsePort(flags.string('rpc.port')!, 'rpc.port') : DEFAULT_RPC.port
  const list = (name: string): string[] | undefined => flags.string(name)?.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const corsOrigins = list('rpc.corsdomain') ?? DEFAULT_RPC.corsOrigins
  const vhosts = list('rpc.vhosts') ?? DEFAULT_RPC.vhosts
  const wsOrigins = list('ws.origins') ?? DEFAULT_RPC.wsOrigins
  const apis = list('rpc.api') ?? [...(dev ? DEV_APIS : DEFAULT_RPC.apis)]
  const unknown = apis.filter((a) => !(NAMESPACES as readonly string[]).includes(a))
  if (unknown.length > 0) throw usageError(`invalid value for --rpc.api: no namespace ${unknown.join(', ')}; this node has ${NAMESPACES.join(',')}`)
  return { ...DEFAULT_RPC, addr, port, corsOrigins, vhosts, wsOrigins, apis, ...callLimits(flags), ...batchLimits(flags) }
}

/** --rpc.batch-request-limit, --rpc.batch-response-max-size (geth's flags and defaults; 0: no limit). */
function batchLimits(flags: ParsedFlags): Pick<RpcConfig, 'batchRequestLimit' | 'batchResponseMaxSize'> {
  const int = (name: string, fallback: number): number => (flags.has(name) ? Number(parseInteger(flags.string(name)!, name, 0n, BigInt(Number.MAX_SAFE_INTEGER))) : fallback)
  return { batchRequestLimit: int('rpc.batch-request-limit', DEFAULT_RPC.batchRequestLimit), batchResponseMaxSize: int('rpc.batch-response-max-size', DEFAULT_RPC.batchResponseMaxSize) }
}

/** --rpc.gascap, --rpc.evmtimeout (Go duration syntax, as geth), --rpc.callworkers. */
function callLimits(flags: ParsedFlags): Pick<RpcConfig, 'gasCap' | 'evmTimeoutMs' | 'callWorkers'> {
  const gasCap = flags.has('rpc.gascap') ? parseInteger(flags.string('rpc.gascap')!, 'rpc.gascap', 0n, (1n << 63n) - 1n) : DEFAULT_RPC_GAS_CAP
  let evmTimeoutMs = DEFAULT_RPC_EVM_TIMEOUT_MS
  if (flags.has('rpc.evmtimeout')) {
    try {
      evmTimeoutMs = parseDuration(flags.string('rpc.evmtimeout')!)
    } catch (err) {
      throw usageError(`invalid value for --rpc.evmtimeout: ${errorMessage(err)}`)
    }
  }
  const callWorkers = flags.has('rpc.callworkers') ? Number(parseInteger(flags.string('rpc.callworkers')!, 'rpc.callworkers', 0n, 64n)) : DEFAULT_CALL_WORKERS
  return { gasCap, evmTimeoutMs, callWorkers }
}

/** --metrics, --metrics.addr, --metrics.port; the options without --metrics are a usage error. */
function metricsConfig(flags: ParsedFlags): MetricsConfig | undefined {
  const options = ['metrics.addr', 'metrics.port'].filter((f) => flags.has(f)).length
  if (!flags.boolean('metrics')) {
    if (options > 0) throw usageError('--metrics.* options need --metrics')
    return undefined
  }
  const port = flags.has('metrics.port') ? parsePort(flags.string('metrics.port')!, 'metrics.port') : DEFAULT_METRICS.port
  return { addr: flags.string('metrics.addr') ?? DEFAULT_METRICS.addr, port }
}

/** --ui (on by default with --dev; --ui=false off), --ui.addr, --ui.port, --ui.vhosts (default: as --rpc.vhosts). */
function uiConfig(flags: ParsedFlags, dev: boolean, rpc: RpcConfig): UiConfig | undefined {
  const on = flags.has('ui') ? flags.boolean('ui') : dev
  if (!on) {
    if (['ui.addr', 'ui.port', 'ui.vhosts'].some((f) => flags.has(f))) throw usageError('--ui.* options need --ui (on by default with --dev)')
    return undefined
  }
  // Whoever asks for any free RPC port (tests, side-by-side dev chains) gets any free UI port too.
  const port = flags.has('ui.port') ? parsePort(flags.string('ui.port')!, 'ui.port') : rpc.port === 0 ? 0 : DEFAULT_UI.port
  const vhosts = flags.string('ui.vhosts')?.split(',').map((s) => s.trim()).filter((s) => s !== '') ?? rpc.vhosts
  return { addr: flags.string('ui.addr') ?? DEFAULT_UI.addr, port, vhosts }
}

/** Data dir of a dev node: reuses its genesis, else writes the dev genesis (state survives restarts). */
async function devSetup(dir: string, period: number | undefined): Promise<Genesis> {
  const paths = datadirPaths(dir)
  const existing = await readDatadirGenesis(paths)
  let genesis = existing
  if (genesis === undefined) {
    genesis = createDevGenesis({ period: period ?? DEV_PERIOD })
    await makeDatadir(paths.dir)
    await writeGenesis(paths.genesis, genesis)
  } else if (period !== undefined && (genesis.consensus !== 'poa' || period !== genesis.poa.period)) {
    log.warn('--dev.period ignored: the data dir already holds a genesis with another period; use a new --datadir to change it', { datadir: paths.dir, sealing: describeSealing(genesis) })
  }
  await ensureNodeKey(paths.nodekey)
  return genesis
}

/**
 * p2p is on by default (0.0.0.0:30303); a --dev node stays alone unless given --p2p.port or
 * --bootnodes, so several dev chains can run side by side. --p2p.maxpeers 0 is the one switch
 * for no networking; --nodiscover (as in geth) only turns off peer exchange.
 */
async function p2pConfig(flags: ParsedFlags, dev: boolean, nodekeyPath: string): Promise<P2PConfig | undefined> {
  const bootnodes = (flags.string('bootnodes') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const b of bootnodes) {
    if (!b.startsWith('/') || !b.includes('/p2p/')) throw usageError(`invalid value for --bootnodes: "${b}" is not a multiaddr ending in /p2p/<peer id> (see admin_nodeInfo's listenAddrs)`)
  }
  const port = flags.has('p2p.port') ? parsePort(flags.string('p2p.port')!, 'p2p.port') : DEFAULT_P2P.port
  const maxPeers = flags.has('p2p.maxpeers') ? Number(parseInteger(flags.string('p2p.maxpeers')!, 'p2p.maxpeers', 0n, 1000n)) : DEFAULT_P2P.maxPeers
  if (maxPeers === 0 || (dev && !flags.has('p2p.port') && bootnodes.length === 0)) return undefined
  await ensureNodeKey(nodekeyPath)
  const key = (await readFile(nodekeyPath, 'utf8')).trim()
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(key)) throw new CliError(CliErrorCode.READ_FAILED, `${nodekeyPath} is not a 32-byte hex node key: delete it to have a new one made`)
  const syncMode = flags.string('syncmode') ?? DEFAULT_SYNC_MODE
  if (syncMode !== 'full' && syncMode !== 'snap') throw usageError(`invalid value for --syncmode: "${syncMode}" (full or snap)`)
  return { listen: { host: flags.string('p2p.addr') ?? DEFAULT_P2P.host, port }, bootnodes, maxPeers, discovery: !flags.boolean('nodiscover'), nodeKey: new Uint8Array(Buffer.from(key.replace(/^0x/, ''), 'hex')), syncMode }
}

/** --mine, --miner.etherbase, --miner.threads; `medrec mine` implies --mine. */
function minerConfig(flags: ParsedFlags, mine: boolean, authority: Uint8Array | undefined): NodeConfig['miner'] {
  const etherbase = flags.has('miner.etherbase') ? parseAddressFlag(flags.string('miner.etherbase')!, 'miner.etherbase') : undefined
  const threads = flags.has('miner.threads') ? Number(parseInteger(flags.string('miner.threads')!, 'miner.threads', 1n, 256n)) : undefined
  if (mine && etherbase === undefined && authority === undefined) {
    throw usageError('--mine needs --miner.etherbase ADDRESS: the account credited with block rewards and bounties (or run as --authority)')
  }
  return { mine, etherbase, threads }
}

async function run(flags: ParsedFlags, mineCommand = false): Promise<void> {
  // Flag checks first (exit 2), then the data dir (exit 1), then prompts.
  const dev = flags.boolean('dev')
  const rpc = rpcConfig(flags, dev)
  const metrics = metricsConfig(flags)
  const ui = uiConfig(flags, dev, rpc)
  const level = flags.string('log.level') ?? 'info'
  const logLevel: LogLevel = isLogLevel(level) ? level : 'info'
  if (!dev && flags.has('dev.period')) throw usageError('--dev.period is only used with --dev')
  const period = flags.has('dev.period') ? Number(parseInteger(flags.string('dev.period')!, 'dev.period', 0n, 2n ** 31n - 1n)) : undefined
  const authorityAddress = flags.has('authority') ? parseAddressFlag(flags.string('authority')!, 'authority') : undefined
  if (dev && authorityAddress !== undefined) throw usageError('--authority cannot be used with --dev: dev account 0 seals the dev chain')
  if (authorityAddress === undefined && flags.has('password')) throw usageError('--password is only used with --authority')
  if (authorityAddress !== undefined) assertPasswordSource(flags.string('password'), 'password')
  const miner = minerConfig(flags, mineCommand || flags.boolean('mine'), dev ? devAccounts(1)[0]!.address : authorityAddress)
  const gatekeeperAccount = flags.has('gatekeeper.account') ? parseAddressFlag(flags.string('gatekeeper.account')!, 'gatekeeper.account') : undefined
  const gkFlags = ['gatekeeper.account', 'gatekeeper.http.addr', 'gatekeeper.http.port', 'gatekeeper.url', 'gatekeeper.db', 'gatekeeper.k', 'gatekeeper.password', 'gatekeeper.nohttp', ...GK_TLS_FLAGS, ...GK_POLICY_FLAGS, ...GK_RECORDS_FLAGS].filter((f) => flags.has(f)).length
  if (!flags.boolean('gatekeeper') && gkFlags > 0) throw usageError('--gatekeeper.* options need --gatekeeper')
  if (gatekeeperAccount === undefined && flags.has('gatekeeper.password')) throw usageError('--gatekeeper.password is only used with --gatekeeper.account')
  const datadir = flags.string('datadir') ?? (dev ? DEV_DATADIR : undefined)
  if (datadir === undefined) throw usageError(`missing --datadir DIR for "${flags.command}" (or pass --dev for a development chain)`)
  const paths = datadirPaths(datadir)
  // Everything the node writes from here on (chain data, keys, SQLite and its side files, the
  // JWT secret) is owner-only, whoever creates it and however late.
  process.umask(0o077)

  let genesis: Genesis
  let authority: AuthorityKey | undefined
  if (dev) {
    genesis = await devSetup(datadir, period)
    authority = devAccounts(1)[0]!
  } else {
    const g = (await exists(paths.dir)) ? await readDatadirGenesis(paths) : undefined
    if (g === undefined) {
      throw new CliError(CliErrorCode.NOT_INITIALISED, `${datadir} is not initialised: run \`medrec init --datadir ${datadir} --genesis FILE\` first`)
    }
    genesis = g
    await ensureNodeKey(paths.nodekey)
    if (authorityAddress !== undefined) {
      const ks = openKeystore(paths.keystore)
      const password = await getPassword({ file: flags.string('password'), flag: 'password', what: toChecksumAddress(authorityAddress), confirm: false })
      authority = { address: authorityAddress, privateKey: await ks.unlock(authorityAddress, password) }
    }
  }
  if (authority !== undefined && !genesis.authorities.some((a) => hex(a) === hex(authority.address))) {
    log.warn('The authority is not in the genesis authority set: it seals only once voted in', { authority: toChecksumAddress(authority.address) })
  }

  const loosened = await secureDatadir(paths.dir)
  if (loosened.length > 0) {
    const examples = loosened.slice(0, 3).map((c) => `${relative(paths.dir, c.path) || '.'} ${c.from.toString(8)}→${c.to.toString(8)}`)
    log.warn('Made the data dir owner-only: entries were readable by other users', { datadir: paths.dir, entries: loosened.length, examples: examples.join(', ') })
  }
  const gatekeeper = await gatekeeperConfig(flags, paths, authority, gatekeeperAccount)
  const jwtSecret = await loadOrCreateJwtSecret(flags.string('rpc.jwtsecret') ?? defaultJwtSecretPath(paths.dir))
  const minFreeDiskMB = flags.has('datadir.minfreedisk') ? Number(parseInteger(flags.string('datadir.minfreedisk')!, 'datadir.minfreedisk', 0n, 1n << 40n)) : DEFAULT_MIN_FREE_DISK_MB
  const gcMode = flags.string('gcmode') ?? DEFAULT_GC_MODE
  if (gcMode !== 'full' && gcMode !== 'archive') throw usageError(`invalid value for --gcmode: ${gcMode}; use full (keep recent state) or archive (keep every block's state)`)
  const stateRecent = flags.has('state.recent') ? Number(parseInteger(flags.string('state.recent')!, 'state.recent', 1n, 1n << 32n)) : DEFAULT_STATE_RECENT
  const priceLimit = flags.has('txpool.pricelimit') ? parseWei(flags.string('txpool.pricelimit')!, 'txpool.pricelimit') : dev ? 0n : DEFAULT_PRICE_LIMIT
  const config: NodeConfig = { datadir: paths.dir, genesis, rpc: { ...rpc, jwtSecret }, authority, logLevel, dev, p2p: await p2pConfig(flags, dev, paths.nodekey), gatekeeper, miner, metrics, ui, minFreeDiskMB, dbRepair: flags.boolean('db.repair'), priceLimit, gcMode, stateRecent }
  // Loaded here, not at the top: `--help` and the other commands must not pay for (or
  // depend on) loading the whole node.
  const { startNode } = await import('../../node/node.ts')
  const signinLoaded = ui === undefined ? undefined : loadSignin()
  const node = await startNode(config)
  await signinLoaded
  // A failed chain database write stopped the node (it closed itself): exit non-zero so a
  // supervisor restarts it once the cause is fixed.
  void node.stopped.then(() => process.exit(1))

  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      note(`${signal} again: exiting without a clean shutdown`)
      process.exit(1)
    }
    stopping = true
    log.info('Stopping on signal (send it again to exit at once)', { signal })
    node.close().then(
      () => process.exit(node.chain.fault === undefined ? 0 : 1),
      (err: unknown) => {
        log.error('Shutdown failed', undefined, err)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  // The code is in the fragment: browsers send it to no server log and no Referer.
  const uiLines = node.uiUrl === undefined ? [] : [`UI: ${node.uiUrl}`, `Sign in to the UI: ${signinLink(node.uiUrl, await makeSigninCode(jwtSecret))} (one use, 5 minutes; \`medrec ui signin\` makes another)`]
  if (dev) printDevBanner(genesis, node.rpcUrl, node.wsUrl, flags.string('rpc.jwtsecret') ?? defaultJwtSecretPath(paths.dir), uiLines)
  else if (uiLines.length > 0) out(uiLines.join('\n'))
  // Readiness for a parent that spawned us with an IPC channel (the bench harness, the tests; read
  // by bench/harness/process.ts): every part has started, and where JSON-RPC serves, as a message
  // rather than a log line. Then the channel is let go: it must not outlive the message.
  process.send?.({ event: 'ready', rpc: node.rpcUrl, ws: node.wsUrl, ...(node.uiUrl === undefined ? {} : { ui: node.uiUrl }) }, () => process.disconnect?.())
}

/** The gatekeeper's audit, rate and delegate policy flags: like the others, they need --gatekeeper. */
const GK_POLICY_FLAGS = ['gatekeeper.audit.anchor-entries', 'gatekeeper.audit.anchor-interval', 'gatekeeper.ratelimit', 'gatekeeper.ratelimit.burst', 'gatekeeper.delegates', 'gatekeeper.delegates.funding', 'gatekeeper.smart.token-lifetime']

/** When the audit head is anchored on chain, and how fast one requester may ask (0 turns each off). */
function auditAndRateFlags(flags: ParsedFlags): Pick<GatekeeperOptions, 'auditAnchorEntries' | 'auditAnchorIntervalSeconds' | 'rateLimit' | 'rateBurst'> {
  const int = (flag: string, fallback: number, max: bigint) => (flags.has(flag) ? Number(parseInteger(flags.string(flag)!, flag, 0n, max)) : fallback)
  return {
    auditAnchorEntries: int('gatekeeper.audit.anchor-entries', DEFAULT_GATEKEEPER.auditAnchorEntries, 1_000_000n),
    auditAnchorIntervalSeconds: int('gatekeeper.audit.anchor-interval', DEFAULT_GATEKEEPER.auditAnchorIntervalMinutes, 10_080n) * 60,
    rateLimit: int('gatekeeper.ratelimit', DEFAULT_GATEKEEPER.rateLimit, 1_000_000n),
    rateBurst: int('gatekeeper.ratelimit.burst', DEFAULT_GATEKEEPER.rateBurst, 1_000_000n),
  }
}

/**
 * --gatekeeper: the gatekeeper acts as --gatekeeper.account (a keystore account), else as the
 * authority (or dev account 0). Its files live in DIR/gatekeeper/.
 */
async function gatekeeperConfig(flags: ParsedFlags, paths: ReturnType<typeof datadirPaths>, authority: AuthorityKey | undefined, account: Uint8Array | undefined): Promise<NodeConfig['gatekeeper']> {
  if (!flags.boolean('gatekeeper')) return undefined
  const k = flags.has('gatekeeper.k') ? Number(parseInteger(flags.string('gatekeeper.k')!, 'gatekeeper.k', 1n, 1000n)) : DEFAULT_GATEKEEPER.k
  const httpPort = flags.has('gatekeeper.http.port') ? parsePort(flags.string('gatekeeper.http.port')!, 'gatekeeper.http.port') : DEFAULT_GATEKEEPER.httpPort
  const publicUrl = flags.string('gatekeeper.url')
  if (publicUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(publicUrl)) throw usageError(`invalid value for --gatekeeper.url: expected an https URL, got "${publicUrl}"`)
  let key: AuthorityKey | undefined = authority
  if (account !== undefined) {
    if (authority !== undefined && hex(authority.address) === hex(account)) key = authority
    else {
      const password = await getPassword({ file: flags.string('gatekeeper.password'), flag: 'gatekeeper.password', what: toChecksumAddress(account), confirm: false })
      key = { address: account, privateKey: await openKeystore(paths.keystore).unlock(account, password) }
    }
  }
  if (key === undefined) throw usageError('--gatekeeper needs an account: pass --gatekeeper.account ADDRESS (a keystore account; --gatekeeper.password FILE), or run as --authority')
  const options: GatekeeperOptions = {
    dir: `${paths.dir}/gatekeeper`,
    ...(flags.has('gatekeeper.db') ? { recordsPath: flags.string('gatekeeper.db')! } : {}),
    ...gatekeeperRecords(flags),
    ...(flags.boolean('gatekeeper.nohttp') ? {} : { http: { host: flags.string('gatekeeper.http.addr') ?? DEFAULT_GATEKEEPER.httpHost, port: httpPort } }),
    ...(publicUrl === undefined ? {} : { publicUrl }),
    ...gatekeeperTls(flags, publicUrl),
    k,
    maxRequestLifetime: DEFAULT_GATEKEEPER.maxRequestLifetime,
    ...auditAndRateFlags(flags),
    // On unless turned off: a relationship created by the authority account names the provider of every patient.
    delegates: flags.has('gatekeeper.delegates') ? flags.boolean('gatekeeper.delegates') : DEFAULT_GATEKEEPER.delegates,
    ...(flags.has('gatekeeper.delegates.funding') ? { delegateFunding: parseWei(flags.string('gatekeeper.delegates.funding')!, 'gatekeeper.delegates.funding') } : {}),
    ...(flags.has('gatekeeper.smart.token-lifetime') ? { smartTokenLifetime: Number(parseInteger(flags.string('gatekeeper.smart.token-lifetime')!, 'gatekeeper.smart.token-lifetime', 10n, 3600n)) } : {}),
  }
  return { options, account: key }
}

const GK_RECORDS_FLAGS = ['gatekeeper.records', 'gatekeeper.records.mapping', 'gatekeeper.records.pool', 'gatekeeper.records.timeout']

/** --gatekeeper.records postgres://…: the provider's own PostgreSQL database, read through --gatekeeper.records.mapping. */
function gatekeeperRecords(flags: ParsedFlags): Pick<GatekeeperOptions, 'records'> {
  const url = flags.string('gatekeeper.records')
  const mapping = flags.string('gatekeeper.records.mapping')
  if (url === undefined) {
    const stray = GK_RECORDS_FLAGS.find((f) => f !== 'gatekeeper.records' && flags.has(f))
    if (stray !== undefined) throw usageError(`--${stray} configures --gatekeeper.records (a PostgreSQL record database): pass --gatekeeper.records postgres://USER@HOST:PORT/DB too, or drop it`)
    return {}
  }
  if (!/^postgres(ql)?:\/\/\S+$/.test(url)) throw usageError(`invalid value for --gatekeeper.records: expected a PostgreSQL URL postgres://USER@HOST:PORT/DB (the password in PGPASSWORD or ~/.pgpass rather than on the command line), got "${url.replace(/:[^:@/]*@/, ':***@')}"`)
  if (flags.has('gatekeeper.db')) throw usageError('--gatekeeper.db (the SQLite record database) and --gatekeeper.records (a PostgreSQL one) are alternatives: pass one')
  if (mapping === undefined) throw usageError('--gatekeeper.records needs --gatekeeper.records.mapping FILE: the JSON file that maps your tables and columns to FHIR elements (example: gatekeeper/db/postgres-example-mapping.json)')
  let statementTimeoutMs: number | undefined
  if (flags.has('gatekeeper.records.timeout')) {
    try {
      statementTimeoutMs = parseDuration(flags.string('gatekeeper.records.timeout')!)
    } catch (err) {
      throw usageError(`invalid value for --gatekeeper.records.timeout: ${errorMessage(err)}`)
    }
  }
  return {
    records: {
      url,
      mappingFile: resolve(mapping),
      ...(flags.has('gatekeeper.records.pool') ? { poolSize: Number(parseInteger(flags.string('gatekeeper.records.pool')!, 'gatekeeper.records.pool', 1n, 1000n)) } : {}),
      ...(statementTimeoutMs === undefined ? {} : { statementTimeoutMs }),
    },
  }
}

const GK_TLS_FLAGS = ['gatekeeper.tls', 'gatekeeper.tls.cert', 'gatekeeper.tls.key']

/**
 * The HTTP API speaks TLS: with the operator's certificate and key, else a self-signed development
 * certificate (gatekeeper/tls.ts). Plain HTTP (--gatekeeper.tls=false) exists only for a gatekeeper
 * behind a proxy that does the TLS, so the URL in the Registrar is https either way.
 */
function gatekeeperTls(flags: ParsedFlags, publicUrl: string | undefined): Pick<GatekeeperOptions, 'tls'> {
  const cert = flags.string('gatekeeper.tls.cert')
  const key = flags.string('gatekeeper.tls.key')
  if (flags.boolean('gatekeeper.nohttp') && GK_TLS_FLAGS.some((f) => flags.has(f))) throw usageError('--gatekeeper.tls* configure the HTTP API, which --gatekeeper.nohttp turns off: drop one or the other')
  if (flags.has('gatekeeper.tls') && !flags.boolean('gatekeeper.tls')) {
    if (cert !== undefined || key !== undefined) throw usageError('--gatekeeper.tls=false serves plain HTTP: drop --gatekeeper.tls.cert/--gatekeeper.tls.key, or drop --gatekeeper.tls=false to serve HTTPS with them')
    if (publicUrl === undefined || !publicUrl.startsWith('https://')) throw usageError("--gatekeeper.tls=false is for a gatekeeper behind a TLS-terminating proxy: pass --gatekeeper.url https://… (the proxy's URL, published in the Registrar) so that requests never travel in clear")
    return { tls: false }
  }
  if (publicUrl !== undefined && !publicUrl.startsWith('https://')) throw usageError(`--gatekeeper.url ${publicUrl} is plain HTTP but the gatekeeper serves HTTPS: publish its https:// URL`)
  if ((cert === undefined) !== (key === undefined)) throw usageError(`--gatekeeper.tls.${cert === undefined ? 'key' : 'cert'} needs --gatekeeper.tls.${cert === undefined ? 'cert' : 'key'}: pass the certificate and its private key (PEM files), or neither for a self-signed development certificate`)
  if (cert === undefined || key === undefined) return {}
  const files = { cert: resolve(cert), key: resolve(key) }
  // Checked here too, so a wrong file stops `medrec start` at once rather than after the chain opens.
  try {
    loadSuppliedTls(files)
  } catch (err) {
    throw usageError(errorMessage(err))
  }
  return { tls: files }
}

function formatEther(wei: bigint): string {
  const whole = wei / 10n ** 18n
  const frac = (wei % 10n ** 18n).toString().padStart(18, '0').replace(/0+$/, '')
  return frac === '' ? whole.toString() : `${whole}.${frac}`
}

/** anvil's start-up listing, so tutorials written for anvil or hardhat carry over. */
function printDevBanner(genesis: Genesis, rpcUrl: string, wsUrl: string, jwtSecretPath: string, uiLines: string[]): void {
  const accounts = devAccounts(10)
  const lines = [
    '',
    'medrec development chain',
    '',
    'Available Accounts',
    '==================',
    ...accounts.map((a, i) => `(${i}) ${toChecksumAddress(a.address)} (${formatEther(genesis.alloc.get(hex(a.address))?.balance ?? 0n)} ETH)`),
    '',
    'Private Keys',
    '==================',
    ...accounts.map((a, i) => `(${i}) ${hex(a.privateKey)}`),
    '',
    'Wallet',
    '==================',
    `Mnemonic:        ${DEV_MNEMONIC}`,
    "Derivation path: m/44'/60'/0'/0/",
    '',
    'WARNING: these accounts and their private keys are PUBLICLY KNOWN. Any funds sent to them on',
    'a real network WILL BE LOST. Use them only on this development chain.',
    '',
    `Chain ID:  ${genesis.chainId}`,
    `Sealer:    ${toChecksumAddress(accounts[0]!.address)} (account 0), ${describeSealing(genesis)}`,
    '',
    `Listening on ${rpcUrl} (WebSocket ${wsUrl})`,
    `medrec_*, admin_*, miner_* and clique votes need a bearer token from ${jwtSecretPath}`,
    '(medrec CLI: --datadir or --rpc.jwtsecret; others: Authorization: Bearer <HS256 JWT over {"iat": now}>)',
    '',
    ...(uiLines.length === 0 ? [] : [...uiLines, '']),
  ]
  out(lines.join('\n'))
}

export const startCommand: CommandSpec = {
  kind: 'command',
  path: 'start',
  summary: 'run a node (JSON-RPC, and sealing for an authority or a miner)',
  usage: 'start [--datadir DIR] [--rpc.addr A] [--rpc.port P] [--rpc.corsdomain ORIGINS] [--rpc.vhosts HOSTS] [--ws.origins ORIGINS] [--rpc.api NAMESPACES] [--rpc.jwtsecret FILE] [--rpc.gascap GAS] [--rpc.evmtimeout DURATION] [--rpc.callworkers N] [--rpc.batch-request-limit N] [--rpc.batch-response-max-size BYTES] [--txpool.pricelimit WEI] [--authority ADDRESS --password FILE] [--mine --miner.etherbase ADDRESS [--miner.threads N]] [--log.level L] [--dev] [--dev.period S] [--gatekeeper [--gatekeeper.account ADDRESS] …] [--metrics [--metrics.addr A] [--metrics.port P]] [--ui[=false] [--ui.addr A] [--ui.port P] [--ui.vhosts HOSTS]]',
  description: [
    'Runs a node on an initialised data dir (see "medrec init"): JSON-RPC over HTTP and WebSocket',
    'on one port and, with --authority, sealing blocks with that keystore account; on a',
    'proof-of-work chain, with --mine, mining blocks for --miner.etherbase.',
    'With --dev: a development chain in ./.medrec-dev (chain id 1337) whose ten accounts of the',
    'standard test mnemonic are funded; account 0 seals. Stop with Ctrl-C (twice to force).',
  ].join('\n'),
  flags: [
    { name: 'datadir', kind: 'string', placeholder: 'DIR', default: `${DEV_DATADIR} with --dev, else required`, description: 'data directory made by "medrec init"' },
    { name: 'txpool.pricelimit', kind: 'string', placeholder: 'WEI', default: String(DEFAULT_PRICE_LIMIT), description: 'lowest tip cap (gas price of a legacy transaction) the pool admits; 0 with --dev unless given. A fee cap below any base fee the chain can reach is refused whatever this is' },
    { name: 'datadir.minfreedisk', kind: 'string', placeholder: 'MB', default: String(DEFAULT_MIN_FREE_DISK_MB), description: "pause sealing and block import (loudly) while the data dir's filesystem has less free space; they resume when there is more again (0: off)" },
    { name: 'gcmode', kind: 'string', placeholder: 'MODE', default: DEFAULT_GC_MODE, description: "full: delete state older than --state.recent blocks (reads of older blocks' state are refused, -32000 missing trie node); archive: keep every block's state" },
    { name: 'state.recent', kind: 'string', placeholder: 'N', default: String(DEFAULT_STATE_RECENT), description: 'blocks whose state a --gcmode full node keeps: the head and the N-1 below it (a fork switch deeper than that cannot be followed)' },
    { name: 'db.repair', kind: 'boolean', default: 'off', description: "run LevelDB's repair on DIR/chaindata before starting (when start-up reports the database corrupt); the head found is checked as at every start" },
    { name: 'rpc.addr', kind: 'string', placeholder: 'A', default: DEFAULT_RPC.addr, description: 'JSON-RPC listen address' },
    { name: 'rpc.port', kind: 'string', placeholder: 'P', default: String(DEFAULT_RPC.port), description: 'JSON-RPC port, HTTP and WebSocket (0: any free port)' },
    { name: 'rpc.corsdomain', kind: 'string', placeholder: 'ORIGINS', default: 'none, CORS off', description: 'comma-separated browser origins allowed to call JSON-RPC (* for any)' },
    { name: 'rpc.vhosts', kind: 'string', placeholder: 'HOSTS', default: DEFAULT_RPC.vhosts.join(','), description: 'comma-separated Host names served, HTTP and WebSocket (* for any: no DNS-rebinding protection)' },
    { name: 'ws.origins', kind: 'string', placeholder: 'ORIGINS', default: 'none, no browser', description: 'comma-separated browser origins allowed to open a WebSocket (* for any)' },
    { name: 'rpc.api', kind: 'string', placeholder: 'NAMESPACES', default: `${DEFAULT_RPC.apis.join(',')}; with --dev all`, description: `JSON-RPC namespaces served, of ${NAMESPACES.join(',')}` },
    { name: 'rpc.gascap', kind: 'string', placeholder: 'GAS', default: String(DEFAULT_RPC_GAS_CAP), description: 'most gas an eth_call or eth_estimateGas may use; more is capped to it (0: no cap)' },
    { name: 'rpc.evmtimeout', kind: 'string', placeholder: 'DURATION', default: formatDuration(DEFAULT_RPC_EVM_TIMEOUT_MS), description: 'eth_call/eth_estimateGas running longer are stopped, e.g. 5s, 500ms (0: no limit)' },
    { name: 'rpc.callworkers', kind: 'string', placeholder: 'N', default: String(DEFAULT_CALL_WORKERS), description: "threads running RPC clients' eth_call/eth_estimateGas (0: on the main thread, no timeout; not for exposed nodes)" },
    { name: 'rpc.batch-request-limit', kind: 'string', placeholder: 'N', default: String(DEFAULT_RPC.batchRequestLimit), description: 'most requests in one JSON-RPC batch; a larger batch is refused whole (0: no limit)' },
    { name: 'rpc.batch-response-max-size', kind: 'string', placeholder: 'BYTES', default: String(DEFAULT_RPC.batchResponseMaxSize), description: "most bytes of answers one batch may return; the batch's later calls are then answered -32003 (0: no limit)" },
    { name: 'rpc.jwtsecret', kind: 'string', placeholder: 'FILE', default: 'DIR/jwtsecret (made if absent)', description: 'hex 32-byte secret for the bearer tokens that medrec_*, admin_*, miner_*, clique_propose/discard need' },
    { name: 'authority', kind: 'string', placeholder: 'ADDRESS', default: 'none, no sealing', description: 'seal blocks with this keystore account' },
    { name: 'password', kind: 'string', placeholder: 'FILE', default: 'prompt on a terminal', description: 'with --authority: file whose first line is its keystore password' },
    { name: 'dev', kind: 'boolean', default: 'off', description: 'development chain with funded, publicly known accounts' },
    { name: 'p2p.addr', kind: 'string', placeholder: 'A', default: DEFAULT_P2P.host, description: 'p2p (libp2p TCP) listen address' },
    { name: 'p2p.port', kind: 'string', placeholder: 'P', default: `${DEFAULT_P2P.port}; with --dev p2p is off unless set`, description: 'p2p listen port (0: any free port)' },
    { name: 'p2p.maxpeers', kind: 'string', placeholder: 'N', default: String(DEFAULT_P2P.maxPeers), description: 'most peers at once (0: no networking)' },
    { name: 'bootnodes', kind: 'string', placeholder: 'MULTIADDRS', default: 'none', description: 'comma-separated peers to join, /ip4/…/tcp/…/p2p/<peer id> (admin_nodeInfo listenAddrs)' },
    { name: 'syncmode', kind: 'string', placeholder: 'MODE', default: DEFAULT_SYNC_MODE, description: "full: execute every block from the genesis; snap: an empty node downloads a recent block's state from peers (checked against headers verified from the genesis) and executes only the blocks after it (no receipts or logs before it; full sync if no peer serves state)" },
    { name: 'nodiscover', kind: 'boolean', default: 'off', description: 'no peer exchange: dial only --bootnodes and added peers (inbound still accepted); --p2p.maxpeers 0 for no networking' },
    { name: 'dev.period', kind: 'string', placeholder: 'S', default: String(DEV_PERIOD), description: 'with --dev: seconds between blocks (0: seal when transactions arrive)' },
    { name: 'mine', kind: 'boolean', default: 'off', description: 'mine blocks (proof-of-work chains; an authority seals anyway)' },
    { name: 'miner.etherbase', kind: 'string', placeholder: 'ADDRESS', default: 'the authority', description: 'account credited with mined blocks\' rewards, fees and bounties (no key needed)' },
    { name: 'miner.threads', kind: 'string', placeholder: 'N', default: 'all cores', description: 'mining threads' },
    { name: 'gatekeeper', kind: 'boolean', default: 'off', description: 'run the built-in gatekeeper: serve records, watch this account\'s Summary, medrec_* RPC' },
    { name: 'gatekeeper.account', kind: 'string', placeholder: 'ADDRESS', default: 'the authority (dev: account 0)', description: 'keystore account the gatekeeper serves and requests as' },
    { name: 'gatekeeper.password', kind: 'string', placeholder: 'FILE', default: 'prompt on a terminal', description: 'with --gatekeeper.account: file whose first line is its keystore password' },
    { name: 'gatekeeper.http.addr', kind: 'string', placeholder: 'A', default: DEFAULT_GATEKEEPER.httpHost, description: 'gatekeeper HTTP API listen address' },
    { name: 'gatekeeper.http.port', kind: 'string', placeholder: 'P', default: String(DEFAULT_GATEKEEPER.httpPort), description: 'gatekeeper HTTP API port (0: any free port)' },
    { name: 'gatekeeper.nohttp', kind: 'boolean', default: 'off', description: 'no gatekeeper HTTP API (libp2p only)' },
    { name: 'gatekeeper.tls', kind: 'boolean', default: 'on', description: 'serve the HTTP API over TLS (=false: plain HTTP, only behind a TLS-terminating proxy whose https:// URL --gatekeeper.url names)' },
    { name: 'gatekeeper.tls.cert', kind: 'string', placeholder: 'FILE', default: 'DIR/gatekeeper/tls/cert.pem, self-signed at the first start', description: 'PEM certificate (then any intermediates) of the HTTPS API; its SHA-256 fingerprint is published in the Registrar for requesters to pin' },
    { name: 'gatekeeper.tls.key', kind: 'string', placeholder: 'FILE', default: 'DIR/gatekeeper/tls/key.pem', description: 'unencrypted PEM private key of --gatekeeper.tls.cert (keep it 0600)' },
    { name: 'gatekeeper.url', kind: 'string', placeholder: 'URL', default: 'the HTTP listen URL', description: 'public https:// URL of the gatekeeper to publish in the Registrar (another name or port that reaches this TLS server; or, with --gatekeeper.tls=false, the TLS-terminating proxy)' },
    { name: 'gatekeeper.db', kind: 'string', placeholder: 'FILE', default: 'DIR/gatekeeper/records.sqlite', description: 'the provider\'s SQLite record database' },
    { name: 'gatekeeper.records', kind: 'string', placeholder: 'URL', default: 'off (the SQLite database)', description: 'the provider\'s own PostgreSQL database as the record source, postgres://USER@HOST:PORT/DB (password: PGPASSWORD or ~/.pgpass)' },
    { name: 'gatekeeper.records.mapping', kind: 'string', placeholder: 'FILE', default: 'required with --gatekeeper.records', description: 'JSON mapping of your tables and columns to FHIR elements, checked against the database at start' },
    { name: 'gatekeeper.records.pool', kind: 'string', placeholder: 'N', default: String(DEFAULT_POSTGRES.poolSize), description: 'connections for record reads' },
    { name: 'gatekeeper.records.timeout', kind: 'string', placeholder: 'DURATION', default: formatDuration(DEFAULT_POSTGRES.statementTimeoutMs), description: 'longest a record statement may run (e.g. 5s, 500ms)' },
    { name: 'gatekeeper.delegates', kind: 'boolean', default: 'on', description: 'create each new relationship as a fresh delegate account that a random other authority verifies and funds (=false: as the gatekeeper account, which the chain then links to every patient)' },
    { name: 'gatekeeper.delegates.funding', kind: 'string', placeholder: 'WEI', default: '1ether', description: 'what this node sends to each delegate it verifies for another authority (gas for its relationship)' },
    { name: 'gatekeeper.smart.token-lifetime', kind: 'string', placeholder: 'S', default: '300', description: 'seconds a SMART access token for the FHIR API lives (10-3600; the chain is asked again at every request, so a revocation ends it at once)' },
    { name: 'gatekeeper.k', kind: 'string', placeholder: 'K', default: String(DEFAULT_GATEKEEPER.k), description: 'k-anonymity of bounty aggregates: no cell from fewer than K patients' },
    { name: 'gatekeeper.audit.anchor-entries', kind: 'string', placeholder: 'N', default: String(DEFAULT_GATEKEEPER.auditAnchorEntries), description: 'anchor the audit log\'s head in the Registrar after N new entries (0: not by count)' },
    { name: 'gatekeeper.audit.anchor-interval', kind: 'string', placeholder: 'MIN', default: String(DEFAULT_GATEKEEPER.auditAnchorIntervalMinutes), description: '…or every MIN minutes when the log grew (0: not by time)' },
    { name: 'gatekeeper.ratelimit', kind: 'string', placeholder: 'R', default: String(DEFAULT_GATEKEEPER.rateLimit), description: 'requests per second per requester (per remote address until a signature verifies); over it: HTTP 429 (0: no limit)' },
    { name: 'gatekeeper.ratelimit.burst', kind: 'string', placeholder: 'B', default: String(DEFAULT_GATEKEEPER.rateBurst), description: 'requests a requester may send at once before --gatekeeper.ratelimit applies' },
    { name: 'ui', kind: 'boolean', default: 'off; on with --dev', description: 'serve the MedRec app in a browser at http://A:P/ (--ui=false turns it off); sign in with the link printed at start or by "medrec ui signin"' },
    { name: 'ui.addr', kind: 'string', placeholder: 'A', default: DEFAULT_UI.addr, description: 'UI listen address' },
    { name: 'ui.port', kind: 'string', placeholder: 'P', default: `${DEFAULT_UI.port}; 0 when --rpc.port is 0`, description: 'UI port (0: any free port)' },
    { name: 'ui.vhosts', kind: 'string', placeholder: 'HOSTS', default: 'as --rpc.vhosts', description: 'comma-separated Host names the UI answers (DNS-rebinding protection; * for any)' },
    { name: 'metrics', kind: 'boolean', default: 'off', description: 'serve Prometheus metrics at http://A:P/metrics' },
    { name: 'metrics.addr', kind: 'string', placeholder: 'A', default: DEFAULT_METRICS.addr, description: 'metrics listen address' },
    { name: 'metrics.port', kind: 'string', placeholder: 'P', default: String(DEFAULT_METRICS.port), description: 'metrics port (0: any free port)' },
  ],
  examples: [
    'medrec start --dev',
    'medrec start --datadir ./node1 --authority 0xAUTH --password pw.txt --rpc.port 8545',
    'medrec start --datadir ./hospital --authority 0xAUTH --password pw.txt --gatekeeper --gatekeeper.http.port 8547',
    'medrec start --datadir ./patient --gatekeeper --gatekeeper.account 0xPATIENT --gatekeeper.password pw.txt --bootnodes /ip4/…',
    'medrec start --datadir ./lab --mine --miner.etherbase 0xLAB --miner.threads 2 --bootnodes /ip4/…',
  ],
  run: (flags) => run(flags),
}

/** `medrec mine`: a mining node in one command (start --mine). */
export const mineCommand: CommandSpec = {
  ...startCommand,
  path: 'mine',
  summary: 'run a mining node (start --mine): proof-of-work blocks for --miner.etherbase',
  usage: 'mine --datadir DIR --miner.etherbase ADDRESS [--miner.threads N] [--bootnodes MULTIADDRS] [--gatekeeper --gatekeeper.account ADDRESS …] [start flags]',
  description: [
    'Runs a node on a proof-of-work data dir and mines on all cores (or --miner.threads): block',
    'rewards, fees and the bounties of record updates in mined blocks go to --miner.etherbase.',
    'With --gatekeeper --gatekeeper.account (the etherbase, unlocked) the node can collect those',
    'bounties: "medrec bounty list|collect|export". Same flags as "medrec start".',
  ].join('\n'),
  examples: [
    'medrec mine --datadir ./lab --miner.etherbase 0xLAB --bootnodes /ip4/10.0.0.5/tcp/30303/p2p/12D3Koo…',
    'medrec mine --datadir ./lab --miner.etherbase 0xLAB --gatekeeper --gatekeeper.account 0xLAB --gatekeeper.password pw.txt',
  ],
  run: (flags) => run(flags, true),
}
