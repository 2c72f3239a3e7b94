/**
 * The catch boundary on the Bolt call path, against the compiled CLI (so a crash shows as an
 * exit). A user filter sets a header value that is not a string: re-encoding the header map
 * then throws in gateway code, outside the filter's own hook, on each path a frame reaches:
 * forwarding right after a sync hook, forwarding after an async hook resumed (a promise
 * callback), and writing the response after an onResponse hook (the upstream socket's data
 * handler). Each call is answered ISTH_ERR_INTERNAL exactly once, logged once, and the
 * process and its other clients go on.
 */
import test from 'ava'
import { startSofaServer, sofaClient, sofaConsumer, TEST_SERVICE, TEST_VERSION } from '../_peers/sofa-rpc.js'
import { RawBoltClient, readResponse, requestFrame, withHeaderMap } from '../_helpers/bolt-frames.js'
import { boltCliConfig, startBoltCli } from '../_helpers/bolt-cli.js'
import { BoltStatus } from '../../gateway/errors.js'

const SVC = `${TEST_SERVICE}:${TEST_VERSION}`

// Plain JS (the CLI loads it without tsx). The mode comes from a header, so no method is needed.
const FILTER = `
const BAD = { length: 1 } // not a string: the header map encoder throws on it
export default {
  name: 'bad-headers',
  schema: { type: 'object' },
  compile () { return null },
  create () {
    return {
      onRequest (call) {
        const mode = call.headers.get('x-mode')
        if (mode === 'sync') { call.headers.set('x-bad', BAD); return 0 }
        if (mode === 'async') return new Promise((resolve) => setTimeout(() => { call.headers.set('x-bad', BAD); resolve(0) }, 5))
        return 0
      },
      onResponse (call) {
        if (call.headers.get('x-mode') === 'response') call.responseHeaders.set('x-bad', BAD)
        return 0
      },
    }
  },
}
`

test('a bug on any Bolt call path answers ISTH_ERR_INTERNAL once, logs once, and the process lives on', async t => {
  const peer = await startSofaServer(); t.teardown(() => peer.close())
  const cli = await startBoltCli(t, boltCliConfig(peer.port, { filters: [{ name: 'bad-headers', module: './bad-headers.mjs' }] }), { 'bad-headers.mjs': FILTER })
  const healthyClient = sofaClient(); t.teardown(() => healthyClient.close())
  const healthy = await sofaConsumer(healthyClient, cli.bolt)
  t.is(await healthy.invoke('plus', [1, 2]), 3)

  const raw = new RawBoltClient(cli.bolt); t.teardown(() => raw.close())
  await raw.ready()
  const modes = ['sync', 'async', 'response']
  modes.forEach((mode, i) => raw.write(withHeaderMap(requestFrame({ id: i + 1, service: SVC, method: 'echo', args: [mode] }), { service: SVC, 'x-mode': mode })))
  await raw.until(() => raw.frames.length >= modes.length || raw.closed, 15_000)
  await new Promise(resolve => setTimeout(resolve, 300)) // a second answer would come now
  t.true(cli.alive(), 'the gateway process is still running')
  t.false(raw.closed)
  for (let i = 1; i <= modes.length; i++) {
    const answers = raw.frames.filter(f => f.requestId === i)
    t.is(answers.length, 1, `${modes[i - 1]}: answered exactly once`)
    t.is(answers[0]?.status, BoltStatus.SERVER_EXCEPTION, modes[i - 1])
    t.regex(readResponse(answers[0].buf).error ?? '', /ISTH_ERR_INTERNAL/, modes[i - 1])
  }
  t.is(cli.gw.logs.filter(l => /internal error/.test(String(l.msg))).length, modes.length, 'one log line per failed call')
  // The same connection and the healthy client keep working.
  raw.write(requestFrame({ id: 9, service: SVC, method: 'echo', args: ['fine'] }))
  await raw.until(() => raw.byId(9) !== undefined)
  t.is(readResponse(raw.byId(9)!.buf).value, 'fine')
  t.is(await healthy.invoke('plus', [2, 3]), 5)
  t.true(cli.alive())
})
