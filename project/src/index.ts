export { ProjectSchema, TABLE_NAME, type Project, type ProjectInput } from './schema';
export { loadProject, parseProject, proxyConfigOf, type LoadedProject, type ProxyRunSettings } from './load';
export { inspect, type InitOptions, type InitReport } from './init';
export { readCatalog, userTables, type TableReport } from './catalog';
export { registerProjectCommands } from './cli';
export { projectJsonSchema, PROJECT_SCHEMA_FILE } from './json-schema';
export { startMirror, copyName, mirrorProjectionName, describeMirror, type MirrorRunOptions, type RunningMirror } from './mirror';
export { ProjectError, type ProjectErrorCode } from './errors';
