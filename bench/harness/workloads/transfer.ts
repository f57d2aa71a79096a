import type { Workload } from './types.ts'
import { catalogEntry } from './catalog.ts'

/** Plain value transfers around a ring of the senders. */
export const transfer: Workload = {
  ...catalogEntry('transfer'),
  setup: async (ctx) => ({
    contract: null,
    tx: (sender) => ({ to: ctx.senderAddresses[(sender + 1) % ctx.senderAddresses.length]!, value: 1n, gasLimit: 21_000n }),
  }),
}
