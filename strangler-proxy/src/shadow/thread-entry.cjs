// The shadow thread's entry point. The proxy runs from TypeScript sources
// (tsx in production, @swc/jest in tests); a worker thread starts with
// neither, so this registers tsx's CommonJS hook unless the parent's
// execArgv already gave the thread a loader, then loads thread.ts.
'use strict';
if (!require.extensions['.ts']) require('tsx/cjs/api').register();
require('./thread.ts');
