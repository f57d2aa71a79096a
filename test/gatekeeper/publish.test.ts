import t from 'tap'
import { join } from 'node:path'
import { createSqliteRecordStore } from '../../gatekeeper/db/index.ts'
import { GatekeeperErrorCode, isGatekeeperError } from '../../gatekeeper/errors.ts'
import { createPublisher } from '../../gatekeeper/publish.ts'
import type { FhirResource } from '../../gatekeeper/types.ts'
import { tempDir } from '../helpers/node-process.ts'

/**
 * Staged record versions on a real SQLite record database: nothing is served before the chain
 * holds its hash, whatever order the chain's answer, a crash (a reopened database) and reads come in.
 */

const REL = '0x' + 'ab'.repeat(20)
const Q = { resourceType: 'Observation' as const, fields: ['status', 'valueQuantity'] }
const obs = (id: string, value: number): FhirResource => ({ resourceType: 'Observation', id, status: 'final', subject: { reference: 'Patient/p1' }, valueQuantity: { value, unit: 'mmHg' } })
const values = (rs: FhirResource[]) => rs.map((r) => (r as unknown as { valueQuantity: { value: number } }).valueQuantity.value)

function open(path: string) {
  const store = createSqliteRecordStore({ path })
  return { store, ...createPublisher(store) }
}

t.test('a failed update serves nothing new and says why; a later one that lands is served', async (t) => {
  const dir = tempDir('medrec-publish-')
  t.teardown(() => dir.remove())
  const { store, publish } = open(join(dir.path, 'records.sqlite'))
  t.teardown(() => store.close())
  store.upsertPatient({ resourceType: 'Patient', id: 'p1' }, 'alice')
  store.upsertAll([obs('o1', 120)])

  t.same(values(store.preview([obs('o1', 180), obs('o2', 95)], 'p1', Q)), [180, 95], 'a preview shows the new version')
  t.same(values(await store.query('p1', Q)), [120], 'and writes nothing')

  const err = await publish({ patientId: 'p1', relationship: REL, pointerId: 0, version: 2, dataHash: '0x01', resources: [obs('o1', 180)] }, () => Promise.reject(new Error('execution reverted'))).catch((e: unknown) => e)
  t.ok(isGatekeeperError(err, GatekeeperErrorCode.CHAIN_UPDATE_FAILED), 'CHAIN_UPDATE_FAILED')
  t.match((err as Error).message, /execution reverted.*previous version is still served/)
  t.same(values(await store.query('p1', Q)), [120], 'the previous version is served')
  t.equal(store.staged(REL, 0).length, 1, 'the new one is kept aside in case its transaction still lands')

  const ok = await publish({ patientId: 'p1', relationship: REL, pointerId: 0, version: 2, dataHash: '0x02', resources: [obs('o1', 181)] }, async () => 'landed')
  t.equal(ok, 'landed')
  t.same(values(await store.query('p1', Q)), [181], 'a landed update is served')
})

t.test('settle: the chain decides, also after a crash', async (t) => {
  const dir = tempDir('medrec-publish-')
  t.teardown(() => dir.remove())
  const path = join(dir.path, 'records.sqlite')
  const first = open(path)
  first.store.upsertPatient({ resourceType: 'Patient', id: 'p1' }, 'alice')
  first.store.upsertAll([obs('o1', 120)])
  // Staged, then the process dies before the chain answers.
  first.store.stage({ patientId: 'p1', relationship: REL, pointerId: 0, version: 2, dataHash: '0xAA', resources: [obs('o1', 150)] })
  first.store.stage({ patientId: 'p1', relationship: REL, pointerId: 0, version: 2, dataHash: '0xbb', resources: [obs('o1', 160)] })
  first.store.stage({ patientId: 'p1', relationship: REL, pointerId: 0, version: 3, dataHash: '0xcc', resources: [obs('o1', 170)] })
  await first.store.close()

  const { store, settle } = open(path)
  t.teardown(() => store.close())
  t.same(values(await store.query('p1', Q)), [120], 'after the restart the previous version is served')
  settle(REL, 0, { version: 1, dataHash: '0x11' })
  t.equal(store.staged(REL, 0).length, 3, 'the chain has not moved: all wait')
  settle(REL, 0, { version: 2, dataHash: '0xaa' })
  t.same(values(await store.query('p1', Q)), [150], 'the version whose hash the chain holds is served (hashes compare in any case)')
  t.same(
    store.staged(REL, 0).map((b) => b.version),
    [3],
    'the other version 2 is dropped, version 3 waits',
  )
  settle(REL, 1, { version: 3, dataHash: '0xcc' })
  t.same(values(await store.query('p1', Q)), [150], 'another pointer settles nothing of this one')
})
