#!/usr/bin/env node
// Runs the ava suite with the TAP reporter and prints the closing line CI reads:
// "N passed, M failed" (ava's own summary is not read as a count).
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

const args = ['ava', '--tap', ...process.argv.slice(2)]
const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'inherit'], env: process.env })
let passed = 0
let failed = 0
let skipped = 0
const rl = createInterface({ input: child.stdout })
rl.on('line', (line) => {
  process.stdout.write(line + '\n')
  if (/^ok \d+/.test(line)) { if (/# SKIP/i.test(line)) skipped++; else passed++ }
  else if (/^not ok \d+/.test(line)) { if (/# TODO/i.test(line)) skipped++; else failed++ }
})
child.on('close', (code) => {
  const ran = passed + failed
  if (code !== 0 && failed === 0) failed = 1 // a crash outside any test still fails the run
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
  process.exit(code === 0 && ran > 0 ? 0 : 1)
})
