import test from 'ava'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import type { AppPushOptions } from '../../admin/discovery/model.js'
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
  // the changes are in the journal (appended and fsynced before each write returned)
  const onDisk = await readStateFile(statePath)
  t.is(onDisk.resources.get('app/shop')?.revision, 3)
  t.is(onDisk.journalRecords, 2)
  // no temp file left behind
  t.deepEqual(readdirSync(d.dir).sort(), ['state.json.journal'])
  await a.store.close()

  const b = await openStore(baseOptions(), { statePath })
  t.teardown(() => b.store.close())
  // open compacts: the state file (temp, fsync, rename) holds everything, the journal is gone
  t.deepEqual(readdirSync(d.dir).sort(), ['state.json'])
  const compacted = JSON.parse(readFileSync(statePath, 'utf8'))
  t.is(compacted.format, 'isthmus-admin-state')
  t.is(compacted.resources['app/shop'].revision, 3)
  t.is(compacted.journalSeq, 2)
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

const inst = (i: number) => ({ address: `10.1.${i >> 8}.${i & 255}`, port: 7, labels: { cell: `c${i % 3}` } })

test('a one-host change of a big app is journaled as a small delta and restored exactly', async t => {
  const d = tempDir()
  t.teardown(d.remove)
  const statePath = d.file('state.json')
  const a = await openStore(baseOptions(), { statePath })
  const instances = Array.from({ length: 2000 }, (_, i) => inst(i))
  await a.store.write(resourceKey('app', 'shop'), 1, () => ({ instances, services: [{ name: 'A' }] }))
  // (the full push outgrew the empty state file: the journal was rotated and compacted)
  const sizeOf = (f: string): number => existsSync(f) ? statSync(f).size : 0
  const afterFull = sizeOf(d.file('state.json.journal'))
  await a.store.write(resourceKey('app', 'shop'), 2, (cur) => ({ ...(cur as AppPushOptions), instances: instances.filter((_, i) => i !== 700) }))
  await a.store.write(resourceKey('app', 'shop'), 3, (cur) => ({ ...(cur as AppPushOptions), instances: [...(cur as AppPushOptions).instances, inst(5000)] }))
  const perDelta = (sizeOf(d.file('state.json.journal')) - afterFull) / 2
  t.true(perDelta < 400, `${perDelta} bytes per one-host delta`)
  const want = a.store.entry(resourceKey('app', 'shop'))
  await a.store.close()
  const r = await readStateFile(statePath)
  t.deepEqual(r.resources.get(resourceKey('app', 'shop')), JSON.parse(JSON.stringify(want)))
  const b = await openStore(baseOptions(), { statePath })
  t.teardown(() => b.store.close())
  t.is(b.store.snapshot.clusters.get('shop:triple')!.hosts.length, 2000)
  t.false(b.store.snapshot.clusters.get('shop:triple')!.hosts.some(h => h.id === '10.1.2.188:7'))
})

test('the journal is compacted into the state file in the background; every change survives', async t => {
  const d = tempDir()
  t.teardown(d.remove)
  const statePath = d.file('state.json')
  const a = await openStore(baseOptions(), { statePath })
  for (let rev = 1; rev <= 300; rev++) {
    await a.store.write('ldc', rev, () => ({ uid: {}, table: [{ from: 0, to: 99, zone: `gz${rev}` }], cities: { [`z${rev}`]: 'x'.repeat(200) } }))
  }
  await a.store.close() // waits for a running compaction
  const compacted = JSON.parse(readFileSync(statePath, 'utf8'))
  t.true(compacted.journalSeq > 0, 'compacted at least once')
  t.false(existsSync(d.file('state.json.journal.old')))
  const r = await readStateFile(statePath)
  t.is(r.resources.get('ldc')?.revision, 300)
  t.true(r.journalRecords < 300)
})

test('a crash between rotation and compaction restores every acknowledged change once', async t => {
  const d = tempDir()
  t.teardown(d.remove)
  const statePath = d.file('state.json')
  // state at seq 1; the old journal repeats seq 1 and adds 2; the new journal has 3
  writeFileSync(statePath, JSON.stringify({ format: 'isthmus-admin-state', version: 1, nodeId: 'x', savedAt: '', journalSeq: 1, resources: { 'app/shop': { revision: 1, origin: 'x', at: 0, value: { instances: [inst(1), inst(2)], services: [{ name: 'A' }] } } } }))
  const rec = (seq: number, revision: number, delta: unknown) => JSON.stringify({ seq, key: 'app/shop', entry: { revision, origin: 'x', at: 0 }, delta }) + '\n'
  writeFileSync(d.file('state.json.journal.old'), rec(1, 1, { splice: [{ prop: 'instances', at: 0, remove: 0, insert: [inst(9)] }] }) + rec(2, 2, { splice: [{ prop: 'instances', at: 2, remove: 0, insert: [inst(3)] }] }))
  writeFileSync(d.file('state.json.journal'), rec(3, 3, { splice: [{ prop: 'instances', at: 0, remove: 1, insert: [] }] }) + '{"seq":4,"key":"app/sh')
  const r = await readStateFile(statePath)
  t.true(r.tornTail)
  t.is(r.resources.get('app/shop')?.revision, 3)
  t.deepEqual((r.resources.get('app/shop')?.value as AppPushOptions).instances.map(i => i.address), ['10.1.0.2', '10.1.0.3'])
  const a = await openStore(baseOptions(), { statePath })
  t.teardown(() => a.store.close())
  t.deepEqual(a.store.snapshot.clusters.get('shop:triple')!.hosts.map(h => h.id), ['10.1.0.2:7', '10.1.0.3:7'])
  t.deepEqual(readdirSync(d.dir).sort(), ['state.json'])
})

test('a corrupt journal line is set aside with a clear error', async t => {
  const d = tempDir()
  t.teardown(d.remove)
  const statePath = d.file('state.json')
  const a = await openStore(baseOptions(), { statePath })
  await a.store.write('ldc', 1, () => ({ uid: {}, table: [{ from: 0, to: 99, zone: 'gz01' }] }))
  await a.store.close()
  writeFileSync(d.file('state.json.journal'), readFileSync(d.file('state.json.journal'), 'utf8') + 'garbage\n{"seq":9}\n', 'utf8')
  const err = await t.throwsAsync(openStore(baseOptions(), { statePath }))
  t.is((err as { code?: string }).code, 'ISTH_ERR_STATE_CORRUPT')
  t.regex(err!.message, /state\.json\.journal: line 2: not valid JSON .*moved aside to .*state\.json\.journal\.corrupt-/)
  t.false(existsSync(d.file('state.json.journal')))
  t.is(readdirSync(d.dir).filter(f => f.startsWith('state.json.journal.corrupt-')).length, 1)
})
