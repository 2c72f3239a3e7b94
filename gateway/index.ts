/**
 * The public entry of the `isthmus` package: everything a filter needs, and the calls that
 * register filters. Built-in filters import only this module, as a user filter does.
 */
export { CONTINUE, defineFilter } from './chain/filter-api.js'
export type { CompileContext, Continue, Filter, FilterCounter, FilterCounterCell, FilterFactory, JsonSchema, Verdict } from './chain/filter-api.js'
export { LocalReply, encodeGrpcMessage } from './chain/local-reply.js'
export { registerFilter, registeredFilterNames } from './chain/filter-registry.js'
export { publishView } from './chain/filter-views.js'
export type { Call, Protocol } from './call/call.js'
export type { CallEvent } from './call/call-event.js'
export type { CallHeaders } from './call/headers.js'
export type { TraceIds } from './call/trace-ids.js'
export type { BodyTap, SideListener, SideOutcome, SideRefusal, SideRequest, SideResult, SideSpec } from './call/side.js'
export type { Decision, PeerIdentity } from './call/identity.js'
export type { RequestPhaseName } from './call/phase.js'
export { BoltStatus, ERRORS, GrpcStatus, IsthmusError } from './errors.js'
export type { ErrorCode } from './errors.js'
// String matchers with the config file's forms ("exact", "prefix*", {exact|prefix|regex}).
export { compileStringMatch } from './router/string-matcher.js'
export type { StringMatcher } from './router/string-matcher.js'
export { auditSchema, ldcSchema, policiesSchema, stringMatchSchema } from './config/schema.js'
export type { AuditOptions, AuditSinkOptions, LdcOptions, PoliciesOptions, StringMatch, ZoneKind } from './config/options.js'
// The LDC section's zones, as the config checks resolve them (the `ldc` filter compiles from them).
export { ldcZones, localZonesOf } from './config/ldc.js'
export type { LdcZone } from './config/ldc.js'
// The process's Prometheus registry, for filters whose metrics prom-client reads at scrape time.
export { registry as metricsRegistry } from './metrics.js'
