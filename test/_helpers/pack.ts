/**
 * Install the package as a user would: `npm pack` the repository (dist/ is built by
 * `npm test`), then `npm ci` the tarball into a fresh project with production dependencies
 * only. The project's lockfile is derived from the repository's, so every dependency comes
 * from npm's cache (`--offline`, ~2 s, no network); when the cache lacks one, npm fetches it
 * (`--prefer-offline`).
 */
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ROOT } from './cli.js'

const run = promisify(execFile)

interface LockEntry { version: string, resolved?: string, integrity?: string, dev?: boolean, [k: string]: unknown }
interface Manifest { name: string, version: string, license: string, dependencies: Record<string, string>, devDependencies: Record<string, string>, bin: Record<string, string>, engines: Record<string, string> }

export interface InstalledProject {
  dir: string
  tarball: string
  /** How the install ran: "offline" (cache only) or "prefer-offline" (fetched what was missing). */
  mode: 'offline' | 'prefer-offline'
}

/** Pack the repository into `dir` and install the tarball in `dir/project` (plus @types/node for tsc). */
export async function packAndInstall (dir: string): Promise<InstalledProject> {
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 16 << 20 })
  const [{ filename }] = JSON.parse(stdout) as Array<{ filename: string }>
  const tarball = join(dir, filename)
  const project = join(dir, 'project')
  mkdirSync(project)
  writeProject(project, tarball)
  const args = ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error']
  try {
    await run('npm', [...args, '--offline'], { cwd: project })
    return { dir: project, tarball, mode: 'offline' }
  } catch (err) {
    if (!/ENOTCACHED/.test(String((err as { stderr?: string }).stderr))) throw err
    await run('npm', [...args, '--prefer-offline'], { cwd: project })
    return { dir: project, tarball, mode: 'prefer-offline' }
  }
}

function writeProject (project: string, tarball: string): void {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
  const registryUrl = (path: string, e: LockEntry): string => {
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)
    return `https://registry.npmjs.org/${name}/-/${name.split('/').pop()!}-${e.version}.tgz`
  }
  const packages: Record<string, unknown> = {}
  // The repository's production tree is the tree `npm install isthmus` builds (same ranges).
  const extra = new Set(['node_modules/@types/node', 'node_modules/undici-types'])
  for (const [path, e] of Object.entries(lock.packages)) {
    if (path === '' || (e.dev === true && !extra.has(path))) continue
    const { dev: _dev, ...entry } = e
    packages[path] = { ...entry, resolved: e.resolved ?? registryUrl(path, e) }
  }
  const dependencies = { isthmus: `file:${tarball}`, '@types/node': pkg.devDependencies['@types/node'] }
  packages['node_modules/isthmus'] = { version: pkg.version, resolved: `file:${tarball}`, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines }
  const root = { name: 'filter-author', version: '1.0.0', dependencies }
  writeFileSync(join(project, 'package.json'), JSON.stringify({ ...root, private: true, type: 'module' }, null, 2))
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify({ name: root.name, version: root.version, lockfileVersion: 3, requires: true, packages: { '': root, ...packages } }, null, 2))
}
