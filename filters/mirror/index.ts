/**
 * `mirror`: traffic mirroring per route, Triple and Bolt, with an optional comparison of the
 * copy's response with the primary's. README "Traffic mirroring".
 */
import { defineFilter } from '../../gateway/index.js'
import { compileMirror, mirrorSchema, type MirrorConfig, type MirrorOptions } from './config.js'
import { MirrorFilter } from './filter.js'

export type { MirrorConfig, MirrorOptions } from './config.js'

const mirror = defineFilter<MirrorOptions, MirrorConfig>({
  name: 'mirror',
  schema: mirrorSchema,
  phase: 'afterHost',
  compile: compileMirror,
  create: cfg => new MirrorFilter(cfg),
})
export default mirror
