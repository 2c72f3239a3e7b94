/**
 * Test PKI made with the `isthmus certs` CLI code: entity CAs and leaf certificates in a
 * temp directory. Each call makes its own directory, so concurrent tests share nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCertsCommand } from '../../certs/cli.js'

export interface CliResult { code: number, out: string, err: string }

/** Run `isthmus certs ...` in-process and capture its output. */
export async function certsCli (...argv: string[]): Promise<CliResult> {
  let out = ''
  let err = ''
  const code = await runCertsCommand(argv, { out: s => { out += s + '\n' }, err: s => { err += s + '\n' } })
  return { code, out, err }
}

/** A fresh temp directory and its remover (call it in t.teardown). */
export function tempDir (prefix = 'isthmus-pki-'): { dir: string, remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, remove: () => { rmSync(dir, { recursive: true, force: true }) } }
}

/** Run the CLI and throw with its stderr when it fails. */
export async function mustCli (...argv: string[]): Promise<CliResult> {
  const r = await certsCli(...argv)
  if (r.code !== 0) throw new Error(`isthmus certs ${argv.join(' ')} -> ${r.code}: ${r.err}`)
  return r
}

/** A CA for `entity` in `<dir>/<entity>-ca`; returns that directory. */
export async function makeCa (dir: string, entity: string, trustDomain?: string): Promise<string> {
  const out = join(dir, `${entity}-ca`)
  await mustCli('init-ca', '--entity', entity, '--out', out, ...(trustDomain === undefined ? [] : ['--trust-domain', trustDomain]))
  return out
}

export interface LeafPaths { cert: string, key: string, ca: string }

/** A leaf for `entity[/app]` signed by the CA in `caDir`, written to `<dir>/<entity>[-<app>]`. */
export async function makeLeaf (dir: string, caDir: string, entity: string, o: { app?: string, server?: boolean, client?: boolean, name?: string } = {}): Promise<LeafPaths> {
  const name = o.name ?? (o.app === undefined ? entity : `${entity}-${o.app}`)
  const out = join(dir, name)
  const args = ['issue', '--ca', caDir, '--entity', entity, '--out', out, '--name', 'tls']
  if (o.app !== undefined) args.push('--app', o.app)
  if (o.server === true) args.push('--server', '--ip', '127.0.0.1', '--dns', 'localhost')
  if (o.client === true) args.push('--client')
  await mustCli(...args)
  return { cert: join(out, 'tls.crt'), key: join(out, 'tls.key'), ca: join(out, 'ca.crt') }
}

/** A logger that keeps its lines, for asserting on log output. */
export function memoryLogger (): { lines: Array<{ level: string, msg: string, obj: object }>, info: (o: object, m: string) => void, warn: (o: object, m: string) => void } {
  const lines: Array<{ level: string, msg: string, obj: object }> = []
  return {
    lines,
    info: (obj, msg) => { lines.push({ level: 'info', msg, obj }) },
    warn: (obj, msg) => { lines.push({ level: 'warn', msg, obj }) },
  }
}
