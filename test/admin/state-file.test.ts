import test from 'ava'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { resourceKey } from '../../admin/effective.js'
import { readStateFile } from '../../admin/state-file.js'
import { baseOptions, openStore, tempDir } from '../_helpers/admin.js'

test('every accepted change is persisted and restored by the next open', async t => {
  const d = tempDir()
  t.teardown(d.remove)
  const statePath = d.file('state.json')
  const a = await openStore(baseOptions(), { statePath })
  await a.store.write(resourceKey('app', 'shop'), 3, () => ({ instances: [{ address: '10.0.0.1', port: 7 }], services: [{ name: 'A' }] }))
  await a.store.write('ldc', 1, () => ({ uid: {}, table: [{ from: 0, to: 99, zone: 'gz01' }] }))
  const onDisk = JSON.parse(readFileSync(statePath, 'utf8'))
  t.is(onDisk.format, 'isthmus-admin-state')
  t.is(onDisk.resources['app/shop'].revision, 3)
  // no temp file left behind
  t.deepEqual(readdirSync(d.dir), ['state.json'])

  const b = await openStore(baseOptions(), { statePath })
  t.deepEqual(b.store.snapshot.clusters.get('shop:triple')!.hosts.map(h => h.id), ['10.0.0.1:7'])
  t.is(b.store.options.ldc?.table[0].zone, 'gz01')
  // the revision rule survives the restart
  await t.throwsAsync(b.store.write(resourceKey('app', 'shop'), 2, () => ({ instances: [], services: [] })), { code: 'ISTH_ERR_ADMIN_REVISION_CONFLICT' })
})

test('a corrupt state file is set aside and start fails with a clear error', async t => {
  const d = tempDir()
  t.teardown(d.remove)
  const statePath = d.file('state.json')
  writeFileSync(statePath, '{"format":"isthmus-admin-state","version":1,"resources":{"app/x":')
  const err = await t.throwsAsync(openStore(baseOptions(), { statePath }))
  t.is((err as { code?: string }).code, 'ISTH_ERR_STATE_CORRUPT')
  t.regex(err!.message, /state\.json: not valid JSON .*moved aside to .*state\.json\.corrupt-/)
  t.false(existsSync(statePath))
  const aside = readdirSync(d.dir).filter(f => f.startsWith('state.json.corrupt-'))
  t.is(aside.length, 1)
  // the original bytes are kept
  t.regex(readFileSync(d.file(aside[0]), 'utf8'), /"app\/x":$/)
})

test('policy discard still moves the file aside and reports it', async t => {
  const d = tempDir()
  t.teardown(d.remove)
  const statePath = d.file('state.json')
  writeFileSync(statePath, JSON.stringify({ format: 'isthmus-admin-state', version: 1, resources: { ldc: { revision: -1, value: {} } } }))
  const r = await readStateFile(statePath, 'discard')
  t.is(r.resources.size, 0)
  t.regex(r.problem ?? '', /revision/)
  t.true(existsSync(r.movedAside!))
})

test('restored state that no longer compiles gives a clear error', async t => {
  const d = tempDir()
  t.teardown(d.remove)
  const statePath = d.file('state.json')
  writeFileSync(statePath, JSON.stringify({
    format: 'isthmus-admin-state', version: 1, nodeId: 'x', savedAt: '',
    resources: { routes: { revision: 1, origin: 'x', at: 0, value: [{ name: 'r', match: {}, cluster: 'gone', timeoutMs: 1000 }] } },
  }))
  const err = await t.throwsAsync(openStore(baseOptions(), { statePath }))
  t.regex(err!.message, /restored admin state .*state\.json.* does not compile.*\/routes\/0\/cluster/)
})
