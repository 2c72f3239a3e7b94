import type { TripleCall } from './triple-call.js'

/** Streams, requests and responses of a call carry it under this symbol (module-level
 *  event handlers find their call there: no closure per call). */
export const kCall = Symbol('isthmus.tripleCall')
export type Tagged<T> = T & { [kCall]: TripleCall }

export function tagStream<T extends object> (s: T, call: TripleCall): void {
  (s as Tagged<T>)[kCall] = call
}
