/**
 * The bundled example config, run by the compiled CLI (ports moved to 0, its Bolt cluster
 * pointed at a sofa-rpc-node server exporting com.example.EchoService): the README promises
 * it refuses methods starting with `Internal` over Bolt too, where sofa-rpc-node puts the
 * method only in the request body.
 */
import test from 'ava'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { sofaClient, sofaConsumer, startSofaServerFor } from '../_peers/sofa-rpc.js'
import { startBoltCli } from '../_helpers/bolt-cli.js'

test('the example config: echo passes over Bolt, InternalReset is refused with ISTH_ERR_FILTER_DENIED', async t => {
  let resets = 0
  const peer = await startSofaServerFor('com.example.EchoService', {
    async echo (s: unknown) { return `echo: ${String(s)}` },
    async InternalReset () { resets++; return 'reset done' },
  })
  t.teardown(() => peer.close())
  const config = parse(readFileSync(new URL('../../examples/isthmus.example.yaml', import.meta.url), 'utf8')) as {
    listeners: Record<string, { port: number }>, clusters: Array<{ name: string, hosts: Array<{ port: number }> }>
  }
  for (const l of Object.values(config.listeners)) l.port = 0
  config.clusters.find(c => c.name === 'sofa-echo')!.hosts[0].port = peer.port
  const cli = await startBoltCli(t, config)
  const client = sofaClient(); t.teardown(() => client.close())
  const c = await sofaConsumer(client, cli.bolt, 'com.example.EchoService')
  t.is(await c.invoke('echo', ['hello over Bolt']), 'echo: hello over Bolt')
  const err = await c.invoke('InternalReset', []).then(() => null, (e: Error) => e)
  t.regex(err?.message ?? 'it passed', /ISTH_ERR_FILTER_DENIED/)
  t.is(resets, 0, 'the upstream never saw it')
  t.true(cli.alive())
})
