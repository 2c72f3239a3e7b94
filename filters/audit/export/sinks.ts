/**
 * Export sinks. Each gets the new lines of a job in trail order and must not return before
 * they are durable at the destination (the job is acknowledged after every sink returned):
 * - file: appends NDJSON and fsyncs; checkpoints to their own file when `checkpoints` is set.
 *   Its high-water marks live beside it (`<path>.marks.json`, written after the data): bytes
 *   appended after the last mark (a crash between the two) are cut at open, so the file holds
 *   every line exactly once;
 * - http: POSTs NDJSON (`application/x-ndjson`) with undici, checkpoints to `checkpointsUrl`
 *   when set; any answer but 2xx is retried by the exporter; receivers de-duplicate by `id`
 *   (records) and (trail, seq) (checkpoints); marks in Redis;
 * - stdout: one line per entry; marks in Redis.
 */
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { request } from 'undici'
import type { AuditSinkOptions } from '../../../gateway/index.js'
import type { ExportLine, Marks } from './positions.js'

export interface Sink {
  readonly name: string
  /** Marks kept by the sink itself (file), or null: the exporter keeps them in Redis. */
  readonly ownMarks: Marks | null
  deliver (records: readonly ExportLine[], checkpoints: readonly ExportLine[], marks: Marks): Promise<void>
  close (): Promise<void>
}

interface MarksFile { size: number, checkpointsSize: number, marks: Marks }

function joinLines (lines: readonly ExportLine[]): string {
  let s = ''
  for (const l of lines) s += l.raw + '\n'
  return s
}

export class FileSink implements Sink {
  readonly name: string
  readonly ownMarks: Marks
  readonly #path: string
  readonly #ckptPath: string | null
  readonly #marksPath: string
  readonly #fd: number
  readonly #ckptFd: number
  #size: number
  #ckptSize: number

  constructor (name: string, path: string, checkpoints: string | undefined, baseDir: string) {
    this.name = name
    this.#path = resolve(baseDir, path)
    this.#ckptPath = checkpoints === undefined ? null : resolve(baseDir, checkpoints)
    this.#marksPath = this.#path + '.marks.json'
    mkdirSync(dirname(this.#path), { recursive: true })
    let saved: MarksFile = { size: 0, checkpointsSize: 0, marks: {} }
    if (existsSync(this.#marksPath)) saved = JSON.parse(readFileSync(this.#marksPath, 'utf8')) as MarksFile
    this.#fd = openSync(this.#path, 'a+', 0o600)
    this.#size = cut(this.#fd, saved.size, this.#path)
    if (this.#ckptPath !== null) {
      mkdirSync(dirname(this.#ckptPath), { recursive: true })
      this.#ckptFd = openSync(this.#ckptPath, 'a+', 0o600)
      this.#ckptSize = cut(this.#ckptFd, saved.checkpointsSize, this.#ckptPath)
    } else {
      this.#ckptFd = -1
      this.#ckptSize = 0
    }
    this.ownMarks = saved.marks
  }

  async deliver (records: readonly ExportLine[], checkpoints: readonly ExportLine[], marks: Marks): Promise<void> {
    const main = joinLines(this.#ckptFd < 0 ? [...records, ...checkpoints] : records)
    if (main !== '') { this.#size += writeAll(this.#fd, main); fsyncSync(this.#fd) }
    if (this.#ckptFd >= 0 && checkpoints.length > 0) { this.#ckptSize += writeAll(this.#ckptFd, joinLines(checkpoints)); fsyncSync(this.#ckptFd) }
    const tmp = this.#marksPath + '.tmp'
    writeFileSync(tmp, JSON.stringify({ size: this.#size, checkpointsSize: this.#ckptSize, marks } satisfies MarksFile) + '\n')
    renameSync(tmp, this.#marksPath)
  }

  async close (): Promise<void> {
    closeSync(this.#fd)
    if (this.#ckptFd >= 0) closeSync(this.#ckptFd)
  }
}

/** Cut bytes written after the last saved mark (they will be delivered again). */
function cut (fd: number, size: number, path: string): number {
  const actual = statSync(path).size
  if (actual > size) ftruncateSync(fd, size)
  return Math.min(actual, size)
}

function writeAll (fd: number, text: string): number {
  const buf = Buffer.from(text)
  let p = 0
  while (p < buf.length) p += writeSync(fd, buf, p, buf.length - p)
  return buf.length
}

export class HttpSink implements Sink {
  readonly name: string
  readonly ownMarks = null
  readonly #url: string
  readonly #ckptUrl: string
  readonly #headers: Record<string, string>
  readonly #timeoutMs: number

  constructor (name: string, url: string, checkpointsUrl: string | undefined, headers: Record<string, string> | undefined, timeoutMs: number | undefined) {
    this.name = name
    this.#url = url
    this.#ckptUrl = checkpointsUrl ?? url
    this.#headers = { ...(headers ?? {}), 'content-type': 'application/x-ndjson' }
    this.#timeoutMs = timeoutMs ?? 10000
  }

  async deliver (records: readonly ExportLine[], checkpoints: readonly ExportLine[]): Promise<void> {
    if (this.#ckptUrl === this.#url) { await this.#post(this.#url, joinLines([...records, ...checkpoints])); return }
    await this.#post(this.#url, joinLines(records))
    await this.#post(this.#ckptUrl, joinLines(checkpoints))
  }

  async #post (url: string, body: string): Promise<void> {
    if (body === '') return
    const res = await request(url, { method: 'POST', headers: this.#headers, body, headersTimeout: this.#timeoutMs, bodyTimeout: this.#timeoutMs })
    await res.body.dump()
    if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`${url} answered HTTP ${res.statusCode}`)
  }

  async close (): Promise<void> {}
}

export class StdoutSink implements Sink {
  readonly name: string
  readonly ownMarks = null
  constructor (name: string) { this.name = name }

  async deliver (records: readonly ExportLine[], checkpoints: readonly ExportLine[]): Promise<void> {
    const text = joinLines([...records, ...checkpoints])
    if (text === '') return
    if (!process.stdout.write(text)) await new Promise<void>(resolve => process.stdout.once('drain', resolve))
  }

  async close (): Promise<void> {}
}

export function makeSink (o: AuditSinkOptions, index: number, baseDir: string): Sink {
  const name = o.name ?? `${o.type}-${index}`
  if (o.type === 'file') return new FileSink(name, o.path, o.checkpoints, baseDir)
  if (o.type === 'http') return new HttpSink(name, o.url, o.checkpointsUrl, o.headers, o.timeoutMs)
  return new StdoutSink(name)
}
