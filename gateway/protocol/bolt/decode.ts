import type { Call } from '../../call/call.js'
import type { BoltFrame } from './command.js'
import { HeaderKeySet, type BoltHeaderView } from './header-view.js'
import { readSofaMethod } from './sofa-method.js'
import { BoltCodec, HEADER_METHOD, HEADER_SERVICE, HEADER_TARGET_SERVICE } from './types.js'

/**
 * Copy what the router and filters read into Call fields, once: the service from `service`
 * (`iface:version[:uniqueId]`), else `sofa_head_target_service`; the method from
 * `sofa_head_method_name`. When `readsMethod` (some route or filter of the snapshot matches
 * methods) and the codec is hessian2, the method is the SofaRequest's `methodName` in the
 * content instead (sofa-rpc-node sends no method header; providers run the body's name):
 * '' when it cannot be read or the header contradicts it, and rules fail closed on ''.
 */
export function decodeBoltCall (call: Call, h: BoltHeaderView, frame: BoltFrame, readsMethod: boolean): void {
  h.getMany(KEYS, found)
  let svc = found[0]
  if (svc === undefined || svc === '') svc = found[1]
  const m = found[2]
  found[0] = found[1] = found[2] = undefined // keep no strings alive between calls
  if (svc !== undefined && svc !== '') {
    if (svc !== lastSvc) parseService(svc) // the same string object when the bytes repeat (HeaderKeySet)
    call.service = lastService
    call.version = lastVersion
    call.group = lastGroup
  }
  if (!readsMethod || frame.codec !== BoltCodec.HESSIAN2) { if (m !== undefined) call.method = m; return }
  // hessian2: the provider (Java sofa-rpc, sofa-rpc-node) runs the methodName of the body and
  // ignores the header, so a rule judges the body; a header that says otherwise is a lie.
  const b = readSofaMethod(frame)
  call.method = m === undefined || m === '' || m === b ? b : ''
}

const KEYS = new HeaderKeySet([HEADER_SERVICE, HEADER_TARGET_SERVICE, HEADER_METHOD])
const found: Array<string | undefined> = [undefined, undefined, undefined]
// `iface:version[:uniqueId]` of the last service value seen, split once.
let lastSvc = ''
let lastService = ''
let lastVersion = ''
let lastGroup = ''

function parseService (svc: string): void {
  lastSvc = svc
  lastVersion = ''
  lastGroup = ''
  const i = svc.indexOf(':')
  if (i < 0) { lastService = svc; return }
  lastService = svc.slice(0, i)
  const j = svc.indexOf(':', i + 1)
  if (j < 0) lastVersion = svc.slice(i + 1)
  else { lastVersion = svc.slice(i + 1, j); lastGroup = svc.slice(j + 1) }
}
