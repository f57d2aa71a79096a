import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parseFlags } from '../../cli/args.ts'
import { nodeAuthHeaders, RPC_FLAGS } from '../../cli/rpc-client.ts'
import { exitCodeOf } from '../../cli/errors.ts'
import { loadOrCreateJwtSecret, verifyAuthorization } from '../../node/rpc/auth.ts'

// The CLI finds the dev node's secret (npm start's ./.medrec-dev) only for the default endpoint:
// a token is never made for an --rpc the user named without saying whose secret it takes.
t.test('without --datadir or --rpc.jwtsecret the CLI uses ./.medrec-dev/jwtsecret, but only for the default endpoint', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-cli-secret-'))
  const cwd = process.cwd()
  t.teardown(() => {
    process.chdir(cwd)
    rmSync(dir, { recursive: true, force: true })
  })
  process.chdir(dir)
  const flags = (argv: string[]) => parseFlags(argv, RPC_FLAGS, 'medrec patient list')
  const method = { name: 'medrec_relationships', protected: true }

  // No dev data dir here yet: a protected call is refused before anything is sent.
  await t.rejects(nodeAuthHeaders(flags([]), method), /--datadir DIR .* or --rpc\.jwtsecret FILE/)

  mkdirSync('.medrec-dev', { mode: 0o700 })
  const secret = await loadOrCreateJwtSecret(join(dir, '.medrec-dev', 'jwtsecret'))
  const headers = await nodeAuthHeaders(flags([]), method)
  await t.resolves(verifyAuthorization(headers.authorization, secret), 'a token of the dev node\'s secret')

  try {
    await nodeAuthHeaders(flags(['--rpc', 'http://10.1.2.3:8545']), method)
    t.fail('made a token for an endpoint named without its secret')
  } catch (err) {
    t.equal(exitCodeOf(err), 2, 'a usage error naming the flags to pass')
  }
  t.same(await nodeAuthHeaders(flags(['--rpc', 'http://10.1.2.3:8545']), { name: 'eth_blockNumber', protected: false }), {}, 'open methods need no token')
})
