/**
 * `isthmus bridge <registry> ...`: registry bridges, each its own process that reads a
 * service registry and pushes what it finds through the gateway's admin API.
 * gateway/cli.ts dispatches here with the arguments after `bridge`.
 */

const USAGE = `Usage: isthmus bridge <registry> [options]

Registries:
  zookeeper   SOFARPC providers registered in ZooKeeper (Java SOFARPC and sofa-rpc-node)

Run "isthmus bridge zookeeper --help" for its options.`

export interface CliIo { out (s: string): void, err (s: string): void }

const defaultIo: CliIo = {
  out: s => { process.stdout.write(s + '\n') },
  err: s => { process.stderr.write(s + '\n') },
}

/** Runs `isthmus bridge ...`; resolves to the exit code (a running bridge: when it stops). */
export async function runBridgeCommand (argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [registry, ...rest] = argv
  switch (registry) {
    case undefined:
      io.out(USAGE)
      return 2
    case '-h':
    case '--help':
    case 'help':
      io.out(USAGE)
      return 0
    case 'zookeeper':
    case 'zk': {
      const { runZookeeperBridge } = await import('./zookeeper/cli.js')
      return runZookeeperBridge(rest, io)
    }
    default:
      io.err(`isthmus: unknown registry "${registry}" for bridge (run "isthmus bridge --help")`)
      return 2
  }
}
