// Rejects a promise nobody handles, long after import (unhandledRejection in the gateway),
// with a string: no stack to attribute it by, only its async scope.
import { onTrigger } from './trigger.mjs'

onTrigger('late-reject', () => { Promise.reject('rejected later, unhandled') })

export default { name: 'late-reject', schema: { type: 'object' }, compile: () => ({}), create: () => ({ onRequest: () => 0 }) }
