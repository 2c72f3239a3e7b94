import type { Call } from '../../call/call.js'
import type { BoltFrame } from './command.js'
import type { BoltHeaderView } from './header-view.js'
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
  let svc = h.get(HEADER_SERVICE)
  if (svc === undefined || svc === '') svc = h.get(HEADER_TARGET_SERVICE)
  if (svc !== undefined && svc !== '') {
    const i = svc.indexOf(':')
    if (i < 0) call.service = svc
    else {
      call.service = svc.slice(0, i)
      const j = svc.indexOf(':', i + 1)
      if (j < 0) call.version = svc.slice(i + 1)
      else { call.version = svc.slice(i + 1, j); call.group = svc.slice(j + 1) }
    }
  }
  const m = h.get(HEADER_METHOD)
  if (!readsMethod || frame.codec !== BoltCodec.HESSIAN2) { if (m !== undefined) call.method = m; return }
  // hessian2: the provider (Java sofa-rpc, sofa-rpc-node) runs the methodName of the body and
  // ignores the header, so a rule judges the body; a header that says otherwise is a lie.
  const b = readSofaMethod(frame)
  call.method = m === undefined || m === '' || m === b ? b : ''
}
