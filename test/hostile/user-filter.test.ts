/**
 * Issue 9, items 3 and 4: a user filter module's failure (at import, later from a timer or
 * an unhandled rejection, or by setting a header HTTP/2 forbids) fails that call or is
 * logged, never the process. The modules are plain ESM files loaded by the compiled CLI.
 */
import test from 'ava'
import * as grpc from '@grpc/grpc-js'
import { echoClient, unary } from '../_peers/grpc-echo.js'
import { hostileSuite, sleep, waitFor, HEALTHY_DEADLINE_MS } from '../_helpers/hostile.js'

const factory = (name: string, hooks: string): string => `
export default {
  name: ${JSON.stringify(name)},
  schema: { type: 'object' },
  compile () { return {} },
  create () { return { ${hooks} } },
}
`
const AFTER_IMPORT_MS = 2500

const suite = hostileSuite(test, {
  files: {
    // Throws from a timer a moment after import (the gateway is serving by then).
    'boom-timer.mjs': `setTimeout(() => { throw new Error('boom-timer: thrown from a timer after import') }, ${AFTER_IMPORT_MS})\n` + factory('boom-timer', ''),
    // An unhandled rejection a moment after import.
    'boom-reject.mjs': `setTimeout(() => { Promise.reject(new Error('boom-reject: unhandled rejection after import')) }, ${AFTER_IMPORT_MS + 200})\n` + factory('boom-reject', ''),
    // Per call, on request: schedules a throw for later, or sets headers HTTP/2 forbids.
    'bad-call.mjs': factory('bad-call', `
      onRequest (call) {
        if (call.headers.get('x-throw-later') !== undefined) setTimeout(() => { throw new Error('bad-call: thrown from a timer a hook set') }, 20)
        if (call.headers.get('x-bad-request-header') !== undefined) call.headers.set('connection', 'close')
      },
      onResponse (call) {
        if (call.headers.get('x-bad-response-header') !== undefined) call.responseHeaders.set('transfer-encoding', 'chunked')
      },`),
  },
  filters: [
    { name: 'boom-timer', module: './boom-timer.mjs' },
    { name: 'boom-reject', module: './boom-reject.mjs' },
    { name: 'bad-call', module: './bad-call.mjs' },
  ],
})

function loggedAnywhere (gw: typeof suite.gw, text: string): boolean {
  return gw.stderr.includes(text) || gw.logs.some(l => JSON.stringify(l).includes(text))
}

test.serial('item 4: a user filter module that throws from a timer (and one with an unhandled rejection) after import: the gateway keeps serving and logs it', async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  await waitFor(() => (loggedAnywhere(gw, 'boom-timer: thrown') && loggedAnywhere(gw, 'boom-reject: unhandled')) || !gw.alive(),
    'the modules\' late errors to surface (logged or fatal)')
  await sleep(300)
  t.true(gw.alive(), gw.describeExit())
  t.true(loggedAnywhere(gw, 'boom-timer: thrown'), 'the timer throw is logged')
  t.true(loggedAnywhere(gw, 'boom-reject: unhandled'), 'the unhandled rejection is logged')
  await gw.expectRecovered(t, mark, 'late throws from user modules')
})

test.serial('item 4: a hook that schedules a throw for later: calls keep passing, the process lives', async (t) => {
  const gw = suite.gw
  const mark = await gw.mark()
  const client = echoClient(gw.triplePort)
  t.teardown(() => client.close())
  const md = new grpc.Metadata()
  md.set('x-throw-later', '1')
  for (let i = 0; i < 3; i++) {
    try { await unary(client, { message: 'late' }, md, { deadline: Date.now() + HEALTHY_DEADLINE_MS }) } catch {}
  }
  await sleep(300)
  t.true(gw.alive(), gw.describeExit())
  client.close()
  await gw.expectRecovered(t, mark, 'throws scheduled by a hook')
})

for (const [what, key] of [['request', 'x-bad-request-header'], ['response', 'x-bad-response-header']] as const) {
  test.serial(`item 3: a user filter that sets a connection-specific ${what} header: that call ends with INTERNAL (or the header is dropped and it passes), never the process`, async (t) => {
    const gw = suite.gw
    const mark = await gw.mark()
    const client = echoClient(gw.triplePort)
    t.teardown(() => client.close())
    const md = new grpc.Metadata()
    md.set(key, '1')
    const codes: number[] = []
    for (let i = 0; i < 3; i++) {
      try {
        await unary(client, { message: 'bad' }, md, { deadline: Date.now() + HEALTHY_DEADLINE_MS })
        codes.push(grpc.status.OK)
      } catch (err) {
        codes.push((err as grpc.ServiceError).code)
      }
    }
    t.true(gw.alive(), gw.describeExit())
    for (const c of codes) t.true(c === grpc.status.INTERNAL || c === grpc.status.OK, `status ${c}`)
    client.close()
    await gw.expectRecovered(t, mark, `a connection-specific ${what} header from a filter`)
  })
}
