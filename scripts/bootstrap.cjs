#!/usr/bin/env node
// Runs before `npm start` and `npm test` with nothing but Node's standard
// library: installs the workspace's npm packages when they are missing or
// older than package-lock.json, so a fresh clone needs no manual step.
// (Maven artifacts are fetched by stack/ itself, on first start.)
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 10)) {
  console.error(`strangler needs Node.js 20.10 or newer; this is ${process.versions.node}. Install a current Node.js 20 or 22.`);
  process.exit(1);
}

const lock = path.join(root, 'package-lock.json');
const stamp = path.join(root, 'node_modules', '.strangler-install');
const digest = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const wanted = fs.existsSync(lock) ? digest(lock) : 'no-lock';
const have = fs.existsSync(stamp) ? fs.readFileSync(stamp, 'utf8').trim() : '';
if (have === wanted) process.exit(0);

const args = fs.existsSync(lock) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'];
console.log(`bootstrap: installing npm packages (npm ${args[0]})...`);
const started = Date.now();
const result = spawnSync('npm', args, { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  console.error(`bootstrap: npm ${args[0]} failed (exit ${result.status}); is the npm registry reachable? Run it by hand to see why.`);
  process.exit(result.status ?? 1);
}
fs.writeFileSync(stamp, `${wanted}\n`);
console.log(`bootstrap: npm packages installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
