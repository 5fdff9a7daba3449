#!/usr/bin/env node
// Runs before `npm test`: the HTML report tests open it in headless Chromium
// (Debian's package, driven by playwright-core). Installs it with apt-get when
// missing and this is root on Debian; otherwise says what to do.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');

const candidates = [process.env.STRANGLER_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);
if (candidates.some((c) => fs.existsSync(c))) process.exit(0);
const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
if (!hasApt || typeof process.getuid !== 'function' || process.getuid() !== 0) {
  console.error(`ensure-chromium: no Chromium at ${candidates.join(', ')}. Install Debian's package (sudo apt-get install chromium) or set STRANGLER_CHROMIUM to a Chromium binary.`);
  process.exit(1);
}
console.log('ensure-chromium: installing Debian\'s chromium (apt-get install chromium)...');
const started = Date.now();
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
let r = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env });
if (r.status !== 0) {
  // A stale package index: refresh once and try again.
  spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  r = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env });
}
if (r.status !== 0) {
  console.error('ensure-chromium: apt-get install chromium failed; install it by hand or set STRANGLER_CHROMIUM.');
  process.exit(r.status ?? 1);
}
console.log(`ensure-chromium: installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
