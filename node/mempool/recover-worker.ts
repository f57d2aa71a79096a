import { parentPort } from 'node:worker_threads'
import { recoverBatch } from './recover.ts'

// Runs recoverBatch off the main thread; the batch buffers are transferred, not copied.
parentPort!.on('message', (msg: { id: number; items: Uint8Array }) => {
  const { pubkeys, ok } = recoverBatch(msg.items)
  parentPort!.postMessage({ id: msg.id, pubkeys, ok }, [pubkeys.buffer as ArrayBuffer, ok.buffer as ArrayBuffer])
})
