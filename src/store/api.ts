// The contract of the flash store (src/store) toward its users (the tree, the SCOMO journal).
// All calls are synchronous: the host's Flash port is synchronous, so a call that returns has
// reached flash.

/** The host's raw flash partition. Offsets are bytes from the start of the partition. */
export interface Flash {
  /** Total bytes; a whole number of erase blocks. */
  readonly size: number;
  /** Erase-block size in bytes. */
  readonly blockSize: number;
  /** Reads `length` bytes at `offset`. */
  read(offset: number, length: number): Uint8Array;
  /** Programs bytes at `offset` (NOR semantics: only erased bytes may be programmed). May throw when power is cut. */
  program(offset: number, bytes: Uint8Array): void;
  /** Erases block `index` to 0xFF. */
  erase(index: number): void;
}

/** Wear and write-amplification counters. */
export interface FlashCounters {
  bytesProgrammed: number;
  erases: number;
}

/**
 * A record is any msgpack-encodable value (objects, arrays, strings, numbers, booleans,
 * null, Uint8Array). Records are appended in transactions: all of a transaction's records are
 * replayed after a reboot, or none.
 */
export type StoreRecord = unknown;

export interface RecordStore {
  /** Replays every committed record, oldest first (used once at boot by the owner). */
  replay(visit: (rec: StoreRecord) => void): void;
  /** Appends one transaction; durable when it returns. Compacts first when the log is full. */
  commit(records: StoreRecord[]): void;
  /** Bytes still free in the active region. */
  free(): number;
  /** Counters since open. */
  counters(): FlashCounters;
}

/**
 * Compaction asks the owner to re-emit its live state as records (bounded RAM: the owner
 * streams records one by one, e.g. large values chunk by chunk) into the other region.
 */
export type SnapshotWriter = (emit: (rec: StoreRecord) => void) => void;
