/**
 * Prints docs/ERRORS.md from the ISTH_ERR_* table (`npx tsx scripts/errors-doc.ts > docs/ERRORS.md`).
 * test/gateway/errors.test.ts fails when the two disagree, so the doc cannot drift.
 */
import { ERRORS, LEGACY_CODES } from '../gateway/errors.js'
import { BoltStatus, GrpcStatus } from '../gateway/errors.js'

const grpcName = new Map(Object.entries(GrpcStatus).map(([k, v]) => [v as number, k]))
const boltName = new Map(Object.entries(BoltStatus).map(([k, v]) => [v as number, k]))

export function errorsDoc (): string {
  let out = `# Isthmus error codes

Every error the gateway reports carries one of these codes (\`err.code\` on an IsthmusError, the
\`code\` field of an admin API error body, the \`code\` of an access-log and audit record). Codes
are a contract: they are never renamed or reused. \`%s\` stands for the detail of the case.

Codes are named \`ISTH_ERR_<AREA>_<WHAT>\`; ${LEGACY_CODES.map(c => `\`${c}\``).join(' and ')} predate that
rule and keep their names. A code with no gRPC or Bolt status never reaches a call (config,
admin, CLI and TLS errors); one with no HTTP status never reaches the admin API.

| code | message | gRPC status (Triple) | Bolt status | HTTP (admin, Triple unary) |
|---|---|---|---|---|
`
  for (const [code, spec] of Object.entries(ERRORS)) {
    const g = spec.grpc === -1 ? '–' : `${grpcName.get(spec.grpc)} (${spec.grpc})`
    const b = spec.bolt === -1 ? '–' : `${boltName.get(spec.bolt)} (0x${spec.bolt.toString(16).padStart(2, '0')})`
    const h = spec.http === -1 ? '–' : String(spec.http)
    out += `| \`${code}\` | ${spec.message.replace(/\|/g, '\\|')} | ${g} | ${b} | ${h} |\n`
  }
  return out
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(errorsDoc())
