import t from 'tap'
import { fromWireCode, GatekeeperError, GatekeeperErrorCode, isGatekeeperError, wireCode } from '../../gatekeeper/errors.ts'
import { CodedError } from '../../common/errors.ts'

t.test('every code is GATEKEEPER_<its key>, and its wire code is the key', async (t) => {
  for (const [key, code] of Object.entries(GatekeeperErrorCode)) {
    t.equal(code, `GATEKEEPER_${key}`)
    t.equal(wireCode(code), key, `${code} goes on the wire as ${key}`)
    t.equal(fromWireCode(key), code, `${key} is read back as ${code}`)
  }
})

t.test('a reply code this node does not know is no code at all', async (t) => {
  // A hostile or newer gatekeeper's reply: the requester then refuses with UNREACHABLE and keeps the remote code as context.
  for (const code of ['GATEKEEPER_FORBIDDEN', 'forbidden', 'FORBIDDEN ', '', 'SOMETHING_NEW', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 42, null, undefined, {}]) {
    t.equal(fromWireCode(code), undefined, JSON.stringify(code) ?? String(code))
  }
})

t.test('isGatekeeperError narrows to the class, and to one code when given', async (t) => {
  const e = new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, 'no grant')
  t.ok(isGatekeeperError(e))
  t.ok(isGatekeeperError(e, GatekeeperErrorCode.FORBIDDEN))
  t.notOk(isGatekeeperError(e, GatekeeperErrorCode.NOT_FOUND))
  t.notOk(isGatekeeperError(new CodedError('GATEKEEPER_FORBIDDEN', 'not a GatekeeperError')), 'another class with the same code string')
  t.notOk(isGatekeeperError({ code: GatekeeperErrorCode.FORBIDDEN, message: 'a look-alike object' }))
  t.equal(e.httpStatus, 403)
  t.equal(new GatekeeperError(GatekeeperErrorCode.RATE_LIMITED, 'slow down', { retryAfter: 7 }).retryAfter, 7)
  t.equal(new GatekeeperError(GatekeeperErrorCode.DECRYPT_FAILED, 'x').httpStatus, 500, 'codes without a status are 500')
})
