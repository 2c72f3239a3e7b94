/**
 * A state file written by a version that accepted any revision (1e308, Infinity stored as
 * null, 2^53+1) must not brick the start nor lock the resource for good (issue 9 item 13);
 * a state file past its size bound is refused before it is read.
 */
import test from 'ava'
import { truncateSync, writeFileSync } from 'node:fs'
import { resourceKey } from '../../admin/effective.js'
import { MAX_STATE_BYTES, readStateFile } from '../../admin/state-file.js'
import { baseOptions, openStore, tempDir } from '../_helpers/admin.js'

const app = (port: number): unknown => ({ instances: [{ address: '10.0.0.1', port }], services: [{ name: 'svc.A' }] })

test('out-of-range revisions in the state file and journal are repaired to 0, logged, and the next write wins', async t => {
  const d = tempDir()
  t.teardown(d.remove)
  const statePath = d.file('state.json')
  // The compacted state as the old version wrote it: 1e308 is a JSON number; Infinity became null.
  writeFileSync(statePath, `{"format":"isthmus-admin-state","version":1,"nodeId":"old","savedAt":"x","journalSeq":0,"resources":{
    "app/big":{"revision":1e308,"value":${JSON.stringify(app(1))},"origin":"old","at":0},
    "app/inf":{"revision":null,"value":${JSON.stringify(app(2))},"origin":"old","at":0},
    "routes":{"revision":3,"value":[],"origin":"old","at":0}}}`)
  writeFileSync(d.file('state.json.journal'), JSON.stringify({ seq: 1, key: 'app/over', entry: { revision: 9007199254740993, value: app(3), origin: 'old', at: 0 } }) + '\n')
  const read = await readStateFile(statePath)
  t.deepEqual(read.repaired.map(r => r.key).sort(), ['app/big', 'app/inf', 'app/over'])

  const warnings: Array<Record<string, unknown>> = []
  const logger = (await import('pino')).default({ level: 'warn' }, { write: (s: string) => { warnings.push(JSON.parse(s) as Record<string, unknown>) } })
  const a = await openStore(baseOptions(), { statePath, logger })
  t.teardown(() => a.store.close())
  // Started, with the values kept and the revisions at 0.
  for (const k of ['app/big', 'app/inf', 'app/over']) t.is(a.store.entry(k)?.revision, 0, k)
  t.is(a.store.entry('routes')?.revision, 3)
  t.truthy(a.store.snapshot.clusters.get('big:triple'))
  t.is(warnings.filter(w => /revision out of range/.test(String(w.msg))).length, 3)
  // Not locked: a normal revision replaces each.
  const r = await a.store.write(resourceKey('app', 'big'), 1, () => app(9))
  t.true(r.changed)
  t.is(a.store.snapshot.clusters.get('big:triple')!.hosts[0].port, 9)
  // The repair was written back: the next start reads revision 1, no repair needed.
  await a.store.close()
  const again = await readStateFile(statePath)
  t.deepEqual(again.repaired, [])
  t.is(again.resources.get('app/big')?.revision, 1)
})

test('a state file larger than its bound is refused with a clear error before it is read', async t => {
  const d = tempDir()
  t.teardown(d.remove)
  const statePath = d.file('state.json')
  writeFileSync(statePath, '')
  truncateSync(statePath, MAX_STATE_BYTES + 1) // sparse: no disk used
  const err = await t.throwsAsync(openStore(baseOptions(), { statePath }))
  t.is((err as { code?: string }).code, 'ISTH_ERR_STATE_CORRUPT')
  t.regex(err!.message, /state\.json: 268435457 bytes is over the 256 MiB a state file may hold/)
})
