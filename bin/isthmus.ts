#!/usr/bin/env node
/**
 * The `isthmus` command: the composition root. It registers the built-in filters with the
 * core and runs the CLI. It always runs (no "am I the main module" check), so it works through
 * any symlink (npx, npm link, node_modules/.bin).
 */
import { registerBuiltinFilters } from '../filters/index.js'
import { main, registerCommand } from '../gateway/cli.js'

registerBuiltinFilters()
registerCommand('audit', 'audit verify | export | keygen: check, export and sign the audit trail', async (argv, ctx) => {
  const { runAuditCommand } = await import('../filters/audit/cli.js')
  return runAuditCommand(argv, ctx)
})
main(process.argv.slice(2)).then((code) => {
  // Exit explicitly: a drained gateway may still hold watchers or Redis sockets.
  process.exitCode = code
  setImmediate(() => process.exit(code))
}, (err: unknown) => {
  process.stderr.write(`isthmus: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
