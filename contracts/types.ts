/** A storage write: 32-byte slot key, 32-byte left-padded value (32 zero bytes clears the slot). */
export type StorageEntry = [slot: Uint8Array, value: Uint8Array]

/** A system contract placed at genesis: runtime code plus its initial storage. */
export interface Predeploy {
  code: Uint8Array
  storage: StorageEntry[]
}
