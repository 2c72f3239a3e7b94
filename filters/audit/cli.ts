/**
 * `isthmus audit verify|export|keygen` (gateway/cli.ts dispatches here lazily). Exit codes:
 * 0 ok, 1 a broken trail (verify) or a failure at run time, 2 bad usage or config.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { AuditOptions } from '../../gateway/index.js'
import { loadPublicKey, keyId } from './checkpoint.js'
import { CHECKPOINTS_FILE, segmentNumber } from './segment-files.js'
import { verifyTrail, type VerifyFile } from './verify.js'

const USAGE = `Usage: isthmus audit <command> [options]

Commands:
  verify <file|dir...>   check an audit trail: hash chain, segment links, checkpoints and
                         their signatures; prints the first broken, missing, re-ordered or
                         cut record of each trail; exit 0 only when intact
  export                 the worker that delivers the audit queue to sinks (NDJSON file,
                         HTTP endpoint, stdout), in order, at least once, de-duplicated by id
  keygen                 make an Ed25519 key pair for signing checkpoints

Run "isthmus audit <command> --help" for its options.`

const VERIFY_USAGE = `Usage: isthmus audit verify [--key <pem>] <file|dir...>

Files are segment files (audit-NNNNNN.ndjson), checkpoint files (checkpoints.ndjson) or an
exported NDJSON copy, in any order; a directory means its segment and checkpoint files.

Options:
  --key <pem>   public key, private key or certificate of the entity whose key signs the
                checkpoints (audit.checkpoint.key); required when checkpoints are signed
  -h, --help    show this help

Exit: 0 intact, 1 broken, cut or with declared losses, 2 bad usage or unreadable input.`

const KEYGEN_USAGE = `Usage: isthmus audit keygen [--out <dir>] [--force]

Writes audit-key.pem (Ed25519 private key, mode 0600) and audit-key.pub.pem to <dir>
(default the current directory). Point audit.checkpoint.key at the private key; give the
public one to whoever runs "isthmus audit verify --key".`

function fail (message: string, code = 2): number {
  process.stderr.write(`isthmus: ${message}\n`)
  return code
}

/** What the `isthmus` command passes in (gateway/cli.ts CommandContext). */
export interface AuditCommandContext {
  /** The gateway's config loader (schema, defaults; throws a one-line IsthmusError). */
  readonly loadConfigFile: (file: string) => { readonly options: { readonly redis?: { url: string, keyPrefix: string, passwordEnv?: string }, readonly audit: AuditOptions } }
}

export async function runAuditCommand (argv: string[], ctx: AuditCommandContext): Promise<number> {
  const [cmd, ...rest] = argv
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') { process.stdout.write(USAGE + '\n'); return cmd === undefined ? 2 : 0 }
  if (cmd === 'verify') return verify(rest)
  if (cmd === 'keygen') return keygen(rest)
  if (cmd === 'export') {
    const { runExportCommand } = await import('./export/command.js')
    return runExportCommand(rest, ctx)
  }
  return fail(`unknown audit command "${cmd}" (run "isthmus audit --help")`)
}

/** Expand directories into their segment and checkpoint files (segments in order). */
function inputFiles (paths: string[]): string[] {
  const out: string[] = []
  for (const p of paths) {
    const abs = resolve(p)
    if (!existsSync(abs)) throw new Error(`${p}: no such file or directory`)
    if (statSync(abs).isDirectory()) {
      const names = readdirSync(abs)
      const segs = names.filter(n => segmentNumber(n) !== null).sort((a, b) => segmentNumber(a)! - segmentNumber(b)!)
      out.push(...segs.map(n => join(abs, n)))
      if (names.includes(CHECKPOINTS_FILE)) out.push(join(abs, CHECKPOINTS_FILE))
      if (segs.length === 0) throw new Error(`${p}: no audit segment files (audit-NNNNNN.ndjson) in this directory`)
    } else {
      out.push(abs)
    }
  }
  return out
}

function verify (argv: string[]): number {
  let parsed: { values: { key?: string, help?: boolean }, positionals: string[] }
  try {
    parsed = parseArgs({ args: argv, options: { key: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true })
  } catch (err) {
    return fail(`${(err as Error).message} (run "isthmus audit verify --help")`)
  }
  if (parsed.values.help === true) { process.stdout.write(VERIFY_USAGE + '\n'); return 0 }
  if (parsed.positionals.length === 0) return fail('audit verify: name the trail files or directories (run "isthmus audit verify --help")')
  let key: KeyObject | null = null
  if (parsed.values.key !== undefined) {
    try { key = loadPublicKey(readFileSync(parsed.values.key, 'utf8')) } catch (err) {
      return fail(`audit verify: --key ${parsed.values.key}: ${(err as Error).message.split('\n')[0]}`)
    }
  }
  let files: VerifyFile[]
  try {
    files = inputFiles(parsed.positionals).map(f => ({ name: f, text: readFileSync(f, 'utf8') }))
  } catch (err) {
    return fail(`audit verify: ${(err as Error).message.split('\n')[0]}`)
  }
  const r = verifyTrail(files, key)
  for (const p of r.problems) process.stdout.write(`BROKEN ${p}\n`)
  for (const l of r.losses) process.stdout.write(`LOSS ${l}\n`)
  for (const s of r.summary) process.stdout.write(`${r.ok ? 'ok' : '--'} ${s}\n`)
  if (r.needsKey && r.problems.length === 0) return fail('audit verify: the checkpoints are signed: pass --key <public key, private key or certificate PEM> to check them')
  return r.ok ? 0 : 1
}

function keygen (argv: string[]): number {
  let values: { out?: string, force?: boolean, help?: boolean }
  try {
    values = parseArgs({ args: argv, options: { out: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }).values
  } catch (err) {
    return fail(`${(err as Error).message} (run "isthmus audit keygen --help")`)
  }
  if (values.help === true) { process.stdout.write(KEYGEN_USAGE + '\n'); return 0 }
  const dir = resolve(values.out ?? '.')
  const priv = join(dir, 'audit-key.pem')
  const pub = join(dir, 'audit-key.pub.pem')
  if (values.force !== true && (existsSync(priv) || existsSync(pub))) return fail(`audit keygen: ${priv} or ${pub} exists (use --force to replace)`)
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  try {
    mkdirSync(dir, { recursive: true })
    writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
    writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 })
  } catch (err) {
    return fail(`audit keygen: ${(err as Error).message}`, 1)
  }
  process.stdout.write(`${priv}\n${pub}\nkey id ${keyId(publicKey)}\n`)
  return 0
}
