// The store's public surface: the record log, its msgpack record codec and the memory flash.
export * from './api.js';
export { openStore, storeError, isStoreError, type StoreOptions, type StoreError, type StoreErrorKind } from './record-log.js';
export { msgpackEncode, msgpackDecode, type MsgpackLimits } from './msgpack.js';
export { MemFlash, isPowerCut, type TornMode, type PowerCutError } from './mem-flash.js';
