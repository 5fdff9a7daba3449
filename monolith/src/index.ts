export { createApp } from './app';
export type { AppOptions } from './app';
export { createDb } from './db';
export { generateTenantData } from './seed/generator';
export type { SeedOptions, SeedResult } from './seed/generator';
