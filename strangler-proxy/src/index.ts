export { ProxyRuntime, type ProxyOptions, type ReloadResult } from './server/runtime';
export { compileConfig, compileConfigText, loadConfigFile, type CompiledConfig } from './config/compile';
export { ProxyConfigSchema, MODES, type ProxyConfig, type ProxyConfigInput, type Mode, type ModeSetting } from './config/schema';
export { ControlStore, type RouteChange } from './control/store';
export type { ShadowExchange, ShadowSink, CapturedResponse } from './shadow/exchange';
export { registerRoutesCommands } from './cli/routes';
export { registerServeCommand } from './cli/serve';
export { ProxyError } from './errors';
