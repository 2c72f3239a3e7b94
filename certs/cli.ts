/**
 * `isthmus certs init-ca` and `isthmus certs issue`. gateway/cli.ts dispatches here with the
 * arguments after `certs`. Errors are one line on stderr and a non-zero exit code.
 */
import { parseArgs } from 'node:util'
import { IsthmusError } from '../gateway/errors.js'
import { createCa, loadCa, writeCa, DEFAULT_TRUST_DOMAIN } from './ca.js'
import { issueCert, leafBaseName, writeIssued } from './issue.js'

const USAGE = `Usage: isthmus certs <command> [options]

Commands:
  init-ca   create an entity root CA (ca.crt, ca.key)
  issue     issue a leaf certificate signed by an entity CA

Run "isthmus certs <command> --help" for its options.`

const INIT_USAGE = `Usage: isthmus certs init-ca --entity <name> [options]

Create an entity root CA. Writes <out>/ca.crt and <out>/ca.key (mode 0600).

Options:
  --entity <name>        entity (legal entity) this CA vouches for (required)
  --trust-domain <d>     SPIFFE trust domain (default ${DEFAULT_TRUST_DOMAIN})
  --out <dir>            output directory (default ./<entity>-ca)
  --days <n>             validity in days (default 3650)
  --force                overwrite existing files
  -h, --help             show this help`

const ISSUE_USAGE = `Usage: isthmus certs issue --ca <dir> --entity <name> [options]

Issue a leaf certificate whose URI SAN is spiffe://<trust-domain>/entity/<entity>[/app/<app>].
Writes <out>/<name>.crt, <out>/<name>.key (mode 0600) and <out>/ca.crt (the issuing CA).

Options:
  --ca <dir>             directory of the entity CA (ca.crt, ca.key) (required)
  --entity <name>        entity of the certificate; must be the CA's entity (required)
  --app <app>            application within the entity
  --server               server usage; add --dns/--ip for host names it serves
  --dns <name>           DNS SAN (repeatable; needs --server)
  --ip <address>         IP SAN (repeatable; needs --server)
  --client               client usage (with neither --server nor --client: both)
  --days <n>             validity in days (default 365)
  --out <dir>            output directory (default .)
  --name <base>          file base name (default <entity> or <entity>-<app>)
  --force                overwrite existing files
  -h, --help             show this help`

/** Runs `isthmus certs ...`; `argv` is what follows `certs`. Resolves to the exit code. */
export async function runCertsCommand (argv: string[], io: { out: (s: string) => void, err: (s: string) => void } = defaultIo): Promise<number> {
  const [cmd, ...rest] = argv
  try {
    switch (cmd) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(USAGE)
        return cmd === undefined ? 2 : 0
      case 'init-ca': return initCa(rest, io)
      case 'issue': return issue(rest, io)
      default:
        io.err(`isthmus certs: unknown command "${cmd}" (expected init-ca or issue; see --help)`)
        return 2
    }
  } catch (err) {
    const msg = err instanceof IsthmusError
      ? `${err.code}: ${err.message}`
      : (err as Error).message.split('\n')[0]
    io.err(`isthmus certs ${cmd}: ${msg}`)
    return err instanceof IsthmusError ? 1 : 2
  }
}

const defaultIo = {
  out: (s: string) => { process.stdout.write(s + '\n') },
  err: (s: string) => { process.stderr.write(s + '\n') },
}

function days (v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new IsthmusError('ISTH_ERR_CERTS', `--days must be a positive number, got "${v}"`)
  return n
}

function required (v: string | undefined, flag: string): string {
  if (v === undefined || v === '') throw new IsthmusError('ISTH_ERR_CERTS', `${flag} is required (see --help)`)
  return v
}

function initCa (args: string[], io: typeof defaultIo): number {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      entity: { type: 'string' },
      'trust-domain': { type: 'string' },
      out: { type: 'string' },
      days: { type: 'string' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help === true) { io.out(INIT_USAGE); return 0 }
  const entity = required(values.entity, '--entity')
  const ca = createCa({ entity, trustDomain: values['trust-domain'], days: days(values.days) })
  const out = values.out ?? `${entity}-ca`
  const p = writeCa(out, ca, values.force === true)
  io.out(`created CA for spiffe://${ca.trustDomain}/entity/${entity}: ${p.cert}, ${p.key}`)
  return 0
}

function issue (args: string[], io: typeof defaultIo): number {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      ca: { type: 'string' },
      entity: { type: 'string' },
      app: { type: 'string' },
      server: { type: 'boolean', default: false },
      dns: { type: 'string', multiple: true },
      ip: { type: 'string', multiple: true },
      client: { type: 'boolean', default: false },
      days: { type: 'string' },
      out: { type: 'string' },
      name: { type: 'string' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help === true) { io.out(ISSUE_USAGE); return 0 }
  const caDir = required(values.ca, '--ca')
  const entity = required(values.entity, '--entity')
  const ca = loadCa(caDir)
  const leaf = issueCert(ca, {
    entity,
    app: values.app,
    server: values.server,
    client: values.client,
    dns: values.dns,
    ip: values.ip,
    days: days(values.days),
  })
  const p = writeIssued(values.out ?? '.', values.name ?? leafBaseName(entity, values.app), leaf, values.force === true)
  io.out(`issued ${leaf.uri} (until ${leaf.notAfter.toISOString()}): ${p.cert}, ${p.key}, ${p.ca}`)
  return 0
}
