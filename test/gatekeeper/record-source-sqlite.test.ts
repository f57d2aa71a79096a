import t from 'tap'
import { join } from 'node:path'
import { setLogLevel } from '../../common/index.ts'
import { createSqliteRecordStore } from '../../gatekeeper/db/index.ts'
import { recordSourceSuite } from './record-source-suite.ts'

setLogLevel('warn')

// The embedded default passes the record-source suite the PostgreSQL source passes too.
recordSourceSuite(t, {
  storesNul: true,
  async empty(t) {
    const store = createSqliteRecordStore({ path: join(t.testdir(), 'records.sqlite') })
    t.teardown(() => store.close())
    return store
  },
})
