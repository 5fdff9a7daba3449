#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx strangler` works from a checkout without a build.
require('tsx/cjs');
require('../src/main.ts');
