/**
 * The `isthmus` command line (run by bin/isthmus.ts). Every error is one line on stderr and a non-zero exit:
 * 2 for bad usage or bad config, 1 for a failure at run time.
 */
import cluster from 'node:cluster'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { IsthmusError } from './errors.js'
import { loadConfigFile, parseConfig, type LoadedConfig } from './config/load.js'

/** What a command registered by the composition root gets from the core. */
export interface CommandContext {
  readonly loadConfigFile: typeof loadConfigFile
}
export type CommandRunner = (argv: string[], ctx: CommandContext) => Promise<number>

/**
 * Commands the composition root (bin/isthmus.ts) adds, such as `audit`, whose code lives
 * outside the core (the core never imports filters/). Listed in the help after the core's.
 */
const extraCommands = new Map<string, { summary: string, run: CommandRunner }>()
export function registerCommand (name: string, summary: string, run: CommandRunner): void {
  extraCommands.set(name, { summary, run })
}

const CORE_USAGE = `Usage: isthmus <command> [options]

Commands:
  start           run the gateway (no -c: the bundled example with its example upstreams)
  certs init-ca   create an entity root CA
  certs issue     issue a leaf certificate (SPIFFE URI SAN carries the identity)
  bridge zookeeper  push SOFARPC providers from ZooKeeper through the admin API

`
const USAGE_OPTIONS = `
Options:
  -h, --help      show help (also after any command)
  -v, --version   print the version`

function usage (): string {
  let extra = ''
  for (const [name, c] of extraCommands) extra += `  ${name.padEnd(15)} ${c.summary}\n`
  return CORE_USAGE + extra + USAGE_OPTIONS
}

const START_USAGE = `Usage: isthmus start [-c <config.yaml>] [--check]

Run the gateway. Without -c it runs the bundled example (examples/isthmus.example.yaml) and
starts the example upstream services it routes to (needs the dev dependencies).

Options:
  -c, --config <file>   config file (YAML, validated against the schema)
  --check               validate the config and exit (0 valid, 2 invalid)
  --workers <n|auto>    data-plane worker processes (overrides "workers" in the config;
                        auto: one per core; 1: a single process)
  -h, --help            show this help

Signals: SIGTERM/SIGINT drain (stop accepting, GOAWAY, finish in-flight calls up to
drain.timeoutMs), then exit 0. A second signal exits at once. SIGHUP (or POST /v1/reload)
re-reads the config file and applies it without dropping calls; an invalid file, or a change
to listeners, redis, state, entity, trustDomain, nodeId or drain, is refused and the running
config stays.`

// Without -c the bundled example runs with its example upstreams, which need the dev
// dependencies of a repository checkout; an installed package or the image has none.
const NO_EXAMPLE = 'no config file: run "isthmus start -c <config.yaml>" (without -c the bundled example runs, which needs a repository checkout with its dev dependencies: npm install && npm start)'

/** Package root: works from sources (gateway/) and from the build (dist/gateway/). */
export function packageRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir
    dir = dirname(dir)
  }
  return process.cwd()
}

function fail (message: string, code = 2): number {
  process.stderr.write(`isthmus: ${message}\n`)
  return code
}

export async function main (argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') { process.stdout.write(usage() + '\n'); return cmd === undefined ? 2 : 0 }
  if (cmd === '-v' || cmd === '--version') {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }
    process.stdout.write(pkg.version + '\n')
    return 0
  }
  if (cmd === 'certs') {
    const { runCertsCommand } = await import('../certs/cli.js')
    return runCertsCommand(rest)
  }
  if (cmd === 'bridge') {
    const { runBridgeCommand } = await import('../bridge/cli.js')
    return runBridgeCommand(rest)
  }
  if (cmd === 'start') return start(rest)
  const extra = extraCommands.get(cmd)
  if (extra !== undefined) return extra.run(rest, { loadConfigFile })
  return fail(`unknown command "${cmd}" (run "isthmus --help")`)
}

async function start (argv: string[]): Promise<number> {
  // A worker of a multi-worker gateway (forked by the primary with the same arguments): its
  // options come from the primary, generation by generation.
  if (cluster.isWorker) {
    const { runWorker } = await import('./lifecycle/worker-main.js')
    return runWorker()
  }
  let values: { config?: string, check?: boolean, help?: boolean, workers?: string }
  try {
    values = parseArgs({
      args: argv,
      options: { config: { type: 'string', short: 'c' }, check: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, workers: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (err) {
    return fail(`${(err as Error).message} (run "isthmus start --help")`)
  }
  if (values.help === true) { process.stdout.write(START_USAGE + '\n'); return 0 }
  let workersFlag: number | 'auto' | undefined
  if (values.workers !== undefined) {
    const w = values.workers
    if (w !== 'auto' && !(/^[1-9][0-9]*$/.test(w) && Number(w) <= 64)) return fail(`--workers: must be an integer from 1 to 64 or "auto", got "${w}"`)
    workersFlag = w === 'auto' ? 'auto' : Number(w)
  }

  let loaded: LoadedConfig
  const example = values.config === undefined
  const exampleFile = join(packageRoot(), 'examples', 'isthmus.example.yaml')
  if (example && !existsSync(exampleFile)) return fail(NO_EXAMPLE)
  try {
    if (example) {
      loaded = { options: parseConfig(readFileSync(exampleFile, 'utf8'), exampleFile), baseDir: dirname(exampleFile), source: exampleFile }
    } else {
      loaded = loadConfigFile(resolve(values.config as string))
    }
  } catch (err) {
    if (err instanceof IsthmusError) return fail(err.message)
    throw err
  }
  const { checkConfig, checkListenerAddresses, inConfigFile } = await import('./lifecycle/check.js')
  if (values.check === true) {
    try {
      // Beyond the schema: listener addresses, filter configs compile, the admin token rule.
      await checkConfig(loaded)
    } catch (err) {
      if (err instanceof IsthmusError) return fail(err.message)
      throw err
    }
    process.stdout.write(`${loaded.source}: ok\n`)
    return 0
  }
  try {
    checkListenerAddresses(loaded)
  } catch (err) {
    return fail((err as Error).message)
  }

  let stopExamples: (() => Promise<void>) | null = null
  if (example) {
    try {
      const { startExampleUpstreams } = await import('../examples/upstreams.js')
      stopExamples = await startExampleUpstreams()
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      if (e.code === 'ERR_MODULE_NOT_FOUND') return fail(NO_EXAMPLE)
      return fail(`cannot start the example upstreams: ${e.message.split('\n')[0]}`, 1)
    }
  }

  const { startGateway } = await import('./lifecycle/start.js')
  const { startPrimary, workerCount } = await import('./lifecycle/primary.js')
  const workers = workerCount(workersFlag ?? loaded.options.workers)
  let gateway: import('./lifecycle/primary.js').RunningGateway
  // SIGHUP re-reads the config file (as nginx and haproxy users expect); the reload logs its
  // outcome in one line, success or refusal. Installed before start so an early SIGHUP does
  // not kill the process (its default action); one during start-up is ignored.
  let started = false
  process.on('SIGHUP', () => {
    if (started) gateway.reload().catch(() => {})
    else process.stderr.write('isthmus: SIGHUP during start-up ignored\n')
  })
  try {
    const so = { baseDir: loaded.baseDir, configFile: loaded.source }
    // More than one worker: this process is the primary (admin, state, replication) and the
    // workers run the listeners; one: today's single process.
    gateway = workers > 1 ? await startPrimary(loaded.options, workers, so) : await startGateway(loaded.options, so)
  } catch (err) {
    await stopExamples?.()
    if (err instanceof IsthmusError) return fail((inConfigFile(err, loaded.source) as Error).message)
    return fail((err as Error).message.split('\n')[0], 1)
  }
  started = true
  if (example) printExampleHelp(gateway.addresses)

  return new Promise<number>((resolveExit) => {
    let signals = 0
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++
      if (signals > 1) { gateway.logger.warn({ sig }, 'second signal: exiting now'); resolveExit(1); return }
      gateway.logger.info({ sig }, 'signal: draining')
      gateway.close().then(async () => {
        await stopExamples?.()
        resolveExit(0)
      }, (err: unknown) => {
        gateway.logger.error({ err }, 'close failed')
        resolveExit(1)
      })
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)

  })
}

function printExampleHelp (a: { triple?: { port: number }, bolt?: { port: number }, admin: { port: number } }): void {
  process.stderr.write(`
Isthmus is running the bundled example (examples/isthmus.example.yaml).
  Triple (gRPC)  127.0.0.1:${a.triple?.port ?? '-'}   try: node examples/call-triple.mjs
  Bolt           127.0.0.1:${a.bolt?.port ?? '-'}   try: node examples/call-bolt.mjs
  Admin          http://127.0.0.1:${a.admin.port}/ready   (token for /v1: see the example config)
Ctrl-C drains and exits.
`)
}
