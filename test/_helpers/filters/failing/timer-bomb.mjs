// Starts a timer at import that later throws an Error (uncaughtException in the gateway).
import { onTrigger } from './trigger.mjs'

onTrigger('timer-bomb', () => { throw new Error('timer bomb went off') })

export default { name: 'timer-bomb', schema: { type: 'object' }, compile: () => ({}), create: () => ({ onRequest: () => 0 }) }
