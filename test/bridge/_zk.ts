/**
 * A real ZooKeeper for tests: Debian's `zookeeper` package, standalone, on a free loopback
 * port with its own data dir and config (no admin server; `ruok` for the readiness check).
 * `stop()`/`start()` restart it on the same port and data (sessions and nodes survive). When
 * the package is missing the test fails with one line saying how to install it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect as netConnect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import zookeeper, { type Client } from 'node-zookeeper-client'

const JAR = '/usr/share/java/zookeeper.jar'
const JAVA = '/usr/bin/java'

export interface ZkServer {
  port: number
  connect: string
  stop (): Promise<void>
  start (): Promise<void>
}

export async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as { port: number }).port
  await new Promise<void>(resolve => s.close(() => resolve()))
  return port
}

export async function startZooKeeper (t: ExecutionContext, o: { maxSessionTimeoutMs?: number } = {}): Promise<ZkServer> {
  if (!existsSync(JAR) || !existsSync(JAVA)) throw new Error('ZooKeeper is not installed: run "apt-get install zookeeper" (Debian package; .ci/run installs it)')
  const dir = mkdtempSync(join(tmpdir(), 'isthmus-zk-'))
  let port = 0
  const writeConfig = (): void => {
    writeFileSync(join(dir, 'zoo.cfg'), [
      'tickTime=500', `dataDir=${join(dir, 'data')}`, `clientPort=${port}`, 'clientPortAddress=127.0.0.1',
      'admin.enableServer=false', '4lw.commands.whitelist=ruok', 'minSessionTimeout=1000',
      `maxSessionTimeout=${o.maxSessionTimeoutMs ?? 30000}`, 'maxClientCnxns=0', 'jute.maxbuffer=4194304',
    ].join('\n') + '\n')
  }
  writeFileSync(join(dir, 'log4j.properties'), 'log4j.rootLogger=ERROR, C\nlog4j.appender.C=org.apache.log4j.ConsoleAppender\nlog4j.appender.C.layout=org.apache.log4j.PatternLayout\n')
  let child: ChildProcess | null = null
  let output = ''
  const start = async (): Promise<void> => {
    const c = spawn(JAVA, ['-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djute.maxbuffer=4194304', '-cp', `${JAR}:${dir}`,
      'org.apache.zookeeper.server.ZooKeeperServerMain', join(dir, 'zoo.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = c
    c.stdout!.on('data', (d: Buffer) => { output += d.toString() })
    c.stderr!.on('data', (d: Buffer) => { output += d.toString() })
    const deadline = Date.now() + 60000
    while (!(await ruok(port))) {
      if (c.exitCode !== null) throw new ZkExited(`zookeeper exited (${c.exitCode}): ${output.slice(-500)}`)
      if (Date.now() > deadline) throw new Error(`zookeeper did not answer ruok on ${port}: ${output.slice(-500)}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
  const stop = async (): Promise<void> => {
    const c = child
    child = null
    if (c === null || c.exitCode !== null) return
    const exited = new Promise(resolve => c.once('exit', resolve))
    c.kill('SIGKILL')
    await exited
  }
  t.teardown(async () => { await stop(); rmSync(dir, { recursive: true, force: true }) })
  // The free port is only free when we asked: another process may take it before Java binds
  // it (many tests start servers at once). A server that exits before answering gets a new port.
  for (let attempt = 1; ; attempt++) {
    port = await freePort()
    writeConfig()
    try { await start(); break } catch (err) {
      if (!(err instanceof ZkExited) || attempt >= 3) throw err
      output = ''
    }
  }
  return { port, connect: `127.0.0.1:${port}`, stop, start }
}

class ZkExited extends Error {}

function ruok (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = netConnect(port, '127.0.0.1', () => { s.end('ruok') })
    let d = ''
    s.setTimeout(1000, () => { s.destroy(); resolve(false) })
    s.on('data', (c: Buffer) => { d += c.toString() })
    s.on('error', () => resolve(false))
    s.on('close', () => resolve(d === 'imok'))
  })
}

/** A plain ZooKeeper session for the test (node-zookeeper-client), closed in teardown. */
export async function zkSession (t: ExecutionContext, connect: string, sessionTimeout = 30000): Promise<ZkSession> {
  const client = zookeeper.createClient(connect, { sessionTimeout, spinDelay: 200 })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('zookeeper session did not connect')), 20000)
    client.once('connected', () => { clearTimeout(timer); resolve() })
    client.connect()
  })
  const s = new ZkSession(client)
  t.teardown(() => s.close())
  return s
}

export class ZkSession {
  #closed = false
  constructor (readonly client: Client) {}

  mkdirp (path: string): Promise<void> {
    return new Promise((resolve, reject) => this.client.mkdirp(path, err => err === null ? resolve() : reject(err)))
  }

  /** Create an ephemeral node (a provider, as SOFARPC writes it). */
  ephemeral (path: string): Promise<void> {
    return new Promise((resolve, reject) => this.client.create(path, Buffer.alloc(0), zookeeper.CreateMode.EPHEMERAL, err => err === null ? resolve() : reject(err)))
  }

  remove (path: string): Promise<void> {
    return new Promise((resolve, reject) => this.client.remove(path, err => err === null ? resolve() : reject(err)))
  }

  children (path: string): Promise<string[]> {
    return new Promise((resolve, reject) => this.client.getChildren(path, (err, c) => err === null ? resolve(c) : reject(err)))
  }

  /** Create many nodes in one transaction (one ZooKeeper request). */
  createAll (paths: string[], ephemeral: boolean): Promise<void> {
    const tx = this.client.transaction()
    for (const p of paths) tx.create(p, Buffer.alloc(0), ephemeral ? zookeeper.CreateMode.EPHEMERAL : zookeeper.CreateMode.PERSISTENT)
    return new Promise((resolve, reject) => tx.commit(err => err === null ? resolve() : reject(err)))
  }

  /** Ends the session: its ephemeral nodes go away. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.client.close()
  }
}

/**
 * A provider URL node name as Java SOFARPC writes it (RegistryUtils.convertProviderToUrls,
 * then URLEncoder.encode: `+` for spaces, everything else percent-encoded).
 */
export function javaProviderNode (o: {
  protocol?: string, host: string, port: number, iface: string, appName?: string, uniqueId?: string,
  weight?: number, startTime?: number, warmupTime?: number, warmupWeight?: number, serialization?: string, extra?: Record<string, string>
}): string {
  const params: Array<[string, string]> = [
    ['uniqueId', o.uniqueId ?? ''], ['interface', o.iface], ['timeout', '3000'], ['delay', '-1'], ['id', 'rpc-cfg-0'],
    ['dynamic', 'true'], ['weight', String(o.weight ?? 100)], ['accepts', '100000'], ['startTime', String(o.startTime ?? Date.now())],
    ['appName', o.appName ?? ''], ['serialization', o.serialization ?? 'hessian2'], ['protocol', o.protocol ?? 'bolt'],
    ['language', 'java'], ['pid', '4242'], ['rpcVer', '50802'],
  ]
  if (o.warmupTime !== undefined) params.push(['warmupTime', String(o.warmupTime)])
  if (o.warmupWeight !== undefined) params.push(['warmupWeight', String(o.warmupWeight)])
  for (const [k, v] of Object.entries(o.extra ?? {})) params.push([k, v])
  const url = `${o.protocol ?? 'bolt'}://${o.host}:${o.port}?version=1.0` + params.map(([k, v]) => `&${k}=${v}`).join('')
  // java.net.URLEncoder: alphanumerics and .-*_ stay, space -> +, the rest %XX (UTF-8).
  return encodeURIComponent(url).replace(/[!'()~]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase()).replace(/%20/g, '+')
}
