#!/usr/bin/env node
// Runs the ava suite and prints the closing line CI reads: "N passed, M failed".
// ava's default reporter, not --tap: ava 7's TAP reporter itself crashes when its inactivity
// timeout trips (a TypeError in tap.js writeTimeout), which hides the tests that were pending;
// the default one lists them ("◌ file › title") and prints each slow test's duration.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

const args = ['ava', ...process.argv.slice(2)]
const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } })
let passed = 0
let failed = 0
let skipped = 0
function count (line) {
  if (/^\s*✔ /.test(line)) passed++
  else if (/^\s*✘ \[(fail|unexpected pass)\]/.test(line)) failed++
  else if (/^\s*◌ /.test(line)) failed++ // pending when the inactivity timeout tripped
  else if (/^\s*(Uncaught exception|Unhandled rejection) in /.test(line)) failed++
  else if (/^\s*✘ .* exited (with a non-zero exit code|due to)/.test(line)) failed++
  else if (/^\s*- \[(skip|todo)\]/.test(line)) skipped++
}
for (const [from, to] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
  createInterface({ input: from }).on('line', (line) => { to.write(line + '\n'); count(line) })
}
child.on('close', (code) => {
  const ran = passed + failed
  if (code !== 0 && failed === 0) failed = 1 // a crash outside any test still fails the run
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
  process.exit(code === 0 && ran > 0 ? 0 : 1)
})
