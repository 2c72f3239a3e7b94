// Loaded by ava before every test file (package.json "ava.require"): the tests' composition
// root, like bin/isthmus.ts for the command. The core registers no filter by itself.
import { registerBuiltinFilters } from '../../filters/index.js'

registerBuiltinFilters()
