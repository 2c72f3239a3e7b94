/**
 * `stress`: SOFA stress-test (load-test) traffic: detect the mark on both protocols, flag
 * `call.stress`, keep the mark unchanged upstream, route to shadow hosts or a shadow cluster,
 * and an incident switch that refuses stress traffic only. Runs at afterRoute (shadow routing
 * re-targets the route's choice); put it before `rate-limit`, whose adaptive mode sheds
 * stress calls first. README "Stress-test traffic".
 */
import { defineFilter } from '../../gateway/index.js'
import { compileStress, stressSchema, type StressConfig, type StressOptions } from './config.js'
import { StressFilter } from './filter.js'

export type { StressConfig, StressOptions } from './config.js'

const stress = defineFilter<StressOptions, StressConfig>({
  name: 'stress',
  schema: stressSchema,
  phase: 'afterRoute',
  compile: compileStress,
  create: cfg => new StressFilter(cfg),
})
export default stress
