/** The config schema's `audit` section (the audit filter's options, README "Audit trail"). */
import { labels, MAX_INT, nonNegInt, posInt, section, str } from './schema-common.js'

/** One export sink of `isthmus audit export` (no defaults inside oneOf: the exporter fills them). */
const auditSinkSchema = {
  oneOf: [
    {
      type: 'object', additionalProperties: false, required: ['type', 'path'],
      properties: { type: { const: 'file' }, name: str, path: str, checkpoints: str },
    },
    {
      type: 'object', additionalProperties: false, required: ['type', 'url'],
      properties: {
        type: { const: 'http' }, name: str,
        url: { type: 'string', pattern: '^https?://' },
        checkpointsUrl: { type: 'string', pattern: '^https?://' },
        headers: labels,
        timeoutMs: posInt,
      },
    },
    { type: 'object', additionalProperties: false, required: ['type'], properties: { type: { const: 'stdout' }, name: str } },
  ],
} as const

/**
 * The top-level `audit` section. `enabled` puts the `audit` filter last in the chain (the
 * core knows it by name only); the rest is that filter's options (README "Audit trail").
 */
export const auditSchema = section({
  enabled: { type: 'boolean', default: false },
  dir: { ...str, default: './audit' },
  // Export through the BullMQ queue in the top-level `redis`.
  queue: { type: 'boolean', default: false },
  // Records are batched this long (or until 256 KiB) before the writer hashes and writes them.
  flushMs: { type: 'integer', minimum: 1, maximum: 10000, default: 50 },
  // Records waiting for the writer; past this they are dropped and the loss is declared in the trail.
  maxBufferBytes: { type: 'integer', minimum: 65536, maximum: MAX_INT, default: 8 * 1024 * 1024 },
  rotate: section({
    maxBytes: { type: 'integer', minimum: 4096, maximum: MAX_INT, default: 64 * 1024 * 1024 },
    intervalMs: { ...nonNegInt, default: 86400000 },
  }),
  // Closed segments past this many bytes are deleted, oldest first (0: keep all); never one
  // the queue has not taken yet.
  retain: section({ maxBytes: { ...nonNegInt, default: 0 } }),
  checkpoint: section({
    records: { ...posInt, default: 1000 },
    intervalMs: { ...posInt, default: 10000 },
    // PEM private key (Ed25519, ECDSA or RSA) that signs checkpoints; unsigned without it.
    key: str,
  }),
  headers: section({
    allow: { type: 'array', items: str, default: [] },
    redact: { type: 'array', items: str, default: ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'] },
    maxValueLength: { type: 'integer', minimum: 1, maximum: 65536, default: 256 },
  }),
  // The spool is the trail not yet enqueued (queue on): its bound and what happens past it.
  spool: section({
    maxBytes: { type: 'integer', minimum: 65536, maximum: MAX_INT, default: 256 * 1024 * 1024 },
    onFull: { enum: ['drop', 'refuse'], default: 'drop' },
    // With refuse: only calls from these caller entities are refused (empty: every call).
    refuseEntities: { type: 'array', items: str, default: [] },
  }),
  export: section({
    queueName: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', default: 'audit' },
    maxJobBytes: { type: 'integer', minimum: 65536, maximum: 16 * 1024 * 1024, default: 256 * 1024 },
    // `isthmus audit export` delivers to these.
    sinks: { type: 'array', items: auditSinkSchema, default: [] },
    retry: section({
      baseMs: { ...posInt, default: 200 },
      maxMs: { ...posInt, default: 30000 },
    }),
  }),
})
