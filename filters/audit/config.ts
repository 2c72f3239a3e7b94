/**
 * The `audit` filter's options: the top-level `audit` section (gateway/config/audit.ts adds
 * `node` and the top-level `redis`), compiled once per revision into an AuditConfig. Nothing
 * is opened here (a config check must not touch the trail): the trail opens at first use.
 */
import { isAbsolute, resolve } from 'node:path'
import type { Logger } from 'pino'
import { auditSchema, type AuditOptions, type CompileContext, type JsonSchema, type LocalReply } from '../../gateway/index.js'
import { compileHeaderRules, type HeaderRules } from './record.js'
import type { TrailSettings } from './trail-protocol.js'

export interface AuditFilterOptions extends Omit<AuditOptions, 'enabled'> {
  /** This replica's id (from the gateway). */
  node: string
  redis?: { url: string, keyPrefix: string, passwordEnv?: string }
}

const { enabled: _enabled, ...sectionProperties } = auditSchema.properties

export const auditFilterSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...sectionProperties,
    node: { type: 'string', minLength: 1, default: 'local' },
    redis: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', pattern: '^rediss?://' },
        keyPrefix: { type: 'string', minLength: 1, default: 'isthmus:' },
        passwordEnv: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
      },
    },
  },
}

export interface AuditConfig {
  readonly dir: string
  readonly entity: string
  readonly node: string
  readonly flushMs: number
  readonly headers: HeaderRules
  readonly settings: TrailSettings
  /** Refuse calls while the spool is full (policy `refuse`); null with `drop`. */
  readonly refuse: null | { readonly reply: LocalReply, readonly entities: ReadonlySet<string> | null }
  readonly logger: Logger
}

export function compileAuditConfig (o: AuditFilterOptions, ctx: CompileContext): AuditConfig {
  if (o.queue && o.redis === undefined) throw ctx.invalid('needs the top-level redis section (the audit queue lives in Redis)', '/queue')
  if (o.queue && o.rotate.maxBytes * 2 > o.spool.maxBytes) {
    throw ctx.invalid(`must be at most half of spool.maxBytes (${o.spool.maxBytes}): the spool is bounded by dropping whole segments`, '/rotate/maxBytes')
  }
  if (o.checkpoint.key !== undefined && o.checkpoint.key.trim() === '') throw ctx.invalid('must name a PEM file', '/checkpoint/key')
  const abs = (p: string): string => isAbsolute(p) ? p : resolve(ctx.baseDir, p)
  const settings: TrailSettings = Object.freeze({
    rotate: Object.freeze({ ...o.rotate }),
    checkpoint: Object.freeze({ records: o.checkpoint.records, intervalMs: o.checkpoint.intervalMs }),
    keyPath: o.checkpoint.key === undefined ? null : abs(o.checkpoint.key),
    maxBufferBytes: o.maxBufferBytes,
    retainBytes: o.retain.maxBytes,
    spool: Object.freeze({ maxBytes: o.spool.maxBytes, onFull: o.spool.onFull }),
    queue: !o.queue || o.redis === undefined
      ? null
      : Object.freeze({
        redisUrl: o.redis.url, passwordEnv: o.redis.passwordEnv, keyPrefix: o.redis.keyPrefix,
        queueName: o.export.queueName, maxJobBytes: o.export.maxJobBytes,
      }),
  })
  return Object.freeze({
    dir: abs(o.dir),
    entity: ctx.entity,
    node: o.node,
    flushMs: o.flushMs,
    headers: compileHeaderRules(o.headers.allow, o.headers.redact, o.headers.maxValueLength),
    settings,
    logger: ctx.logger,
    refuse: o.spool.onFull !== 'refuse'
      ? null
      : Object.freeze({
        reply: ctx.localReply('ISTH_ERR_AUDIT_UNAVAILABLE', 'the audit spool is full (Redis unreachable?); calls that require audit are refused'),
        entities: o.spool.refuseEntities.length === 0 ? null : new Set(o.spool.refuseEntities),
      }),
  })
}
