/** Call phases, named as in MOSN. Small integers so a Call can hold its phase cheaply. */
export const Phase = {
  Decode: 0,
  BeforeRoute: 1,
  Route: 2,
  AfterRoute: 3,
  ChooseHost: 4,
  AfterHost: 5,
  Upstream: 6,
  Response: 7,
  Reply: 8,
  Log: 9,
  End: 10,
} as const

export type PhaseId = typeof Phase[keyof typeof Phase]

export const PHASE_NAMES: readonly string[] = Object.freeze([
  'decode', 'beforeRoute', 'route', 'afterRoute', 'chooseHost', 'afterHost', 'upstream',
  'response', 'reply', 'log', 'end',
])

/** The phases a filter's onRequest hook may be attached to. */
export type RequestPhaseName = 'beforeRoute' | 'afterRoute' | 'afterHost'
