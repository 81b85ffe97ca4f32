// Public surface of the alternate download path (used by the SCOMO job engine and drivers).
export { DownloadEngine } from './engine.js';
export type {
  DownloadAction, DownloadEvent, DownloadOptions, DownloadCheckpoint, DownloadOutcome, DownloadProgress,
  PackageStorage, StorageStatus, HashPort, ResumableHash, HttpRequestAction,
} from './types.js';
export type { DownloadDescriptor } from './dd.js';
export { parseDownloadDescriptor, writeDownloadDescriptor, DD_MIME, DD_NS, DD_EXT_NS } from './dd.js';
export * from './result-codes.js';
export { pureSha256Port, providerSha256Port } from './sha256-resume.js';
