#!/usr/bin/env node
// Runs before `npm test`: the alert rules are checked with promtool, and the
// observe e2e test runs Prometheus (Debian's package). Installs it with
// apt-get when missing and this is root on Debian; otherwise says what to do
// and goes on (those tests then skip, saying why): a machine without
// Prometheus can still run everything else.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');

const dir = process.env.STRANGLER_PROMETHEUS_BIN;
const candidates = dir ? [`${dir}/promtool`] : ['/usr/bin/promtool'];
if (candidates.some((c) => fs.existsSync(c))) process.exit(0);
const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
if (dir || !hasApt || typeof process.getuid !== 'function' || process.getuid() !== 0) {
  console.warn(`ensure-prometheus: no promtool at ${candidates.join(', ')}: the rule checks and the alert e2e test will skip. Install Debian's package (sudo apt-get install prometheus) or set STRANGLER_PROMETHEUS_BIN to a folder holding prometheus and promtool.`);
  process.exit(0);
}
console.log("ensure-prometheus: installing Debian's prometheus (apt-get install prometheus)...");
const started = Date.now();
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const install = () => spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'prometheus'], { stdio: 'inherit', env });
let r = install();
if (r.status !== 0) {
  // A stale package index: refresh once and try again.
  spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  r = install();
}
if (r.status !== 0) {
  console.warn('ensure-prometheus: apt-get install prometheus failed: the rule checks and the alert e2e test will skip.');
  process.exit(0);
}
// Debian's package starts a system service where it can; the stack runs its own instance on its own port.
console.log(`ensure-prometheus: installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
