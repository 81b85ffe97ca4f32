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

// ---- Additions by the store (additive) ----
//
// When the store calls the SnapshotWriter, and what it writes around the snapshot:
// - inside commit(records) when the records do not fit: snapshot, then `records` as one
//   transaction, and only then the switch to the new region commits both atomically. The
//   snapshot may or may not already reflect `records` (owner applies before or after commit):
//   records must therefore state results, not deltas (replaying one twice is harmless);
// - inside a streamed transaction's append()/commitTx(): snapshot, then the store carries the
//   already-appended records over itself; the snapshot must NOT contain the open transaction's
//   effect (the owner applies it after commitTx returns);
// - compact(): between transactions.
// The writer may call replay() (it then reads the old region's committed records, e.g. to
// re-emit large-object chunks kept only in the log); it must not call commit/append/compact.

/** How openStore found the log: 'formatted' (blank or unreadable), 'aborted-tail' (an
 *  unfinished transaction was voided), 'relocated' (torn bytes: the committed prefix was copied
 *  to the other region). */
export type StoreRecovery = 'clean' | 'formatted' | 'aborted-tail' | 'relocated';

/** RecordStore plus streamed transactions (records written as they come, never all in RAM). */
export interface TxRecordStore extends RecordStore {
  /** Opens a streamed transaction; commit() is refused until commitTx()/abortTx(). */
  begin(): void;
  /** Appends one record to the open transaction (durable, but void until commitTx). */
  append(rec: StoreRecord): void;
  /** Commits the open transaction; durable when it returns. */
  commitTx(): void;
  /** Voids the open transaction (no-op when none is open). */
  abortTx(): void;
  /** Compacts now (call between transactions). */
  compact(): void;
  info(): { region: number; generation: number; used: number; capacity: number; recovery: StoreRecovery };
}
