// Entry of the device core for drivers and bundles.
export { createAgent } from './agent.js';
export type { Agent, AgentConfig, AgentServerConfig, AgentStatus, CreateAgent } from './api.js';
export type { Host, HttpRequest, InstallRequest, InstallResult, LogLevel, PackageStorage, StorageStatus } from './host.js';
