// Shared by the failing test modules: runs `fn` (from a timer) once the test creates
// `$ISTHMUS_TEST_TRIGGERS/<name>`, so each failure happens when the test asks for it.
import { existsSync } from 'node:fs'
import { join } from 'node:path'

export function onTrigger (name, fn) {
  const dir = process.env.ISTHMUS_TEST_TRIGGERS
  if (dir === undefined) return
  const t = setInterval(() => {
    if (!existsSync(join(dir, name))) return
    clearInterval(t)
    fn()
  }, 20)
  t.unref()
}
