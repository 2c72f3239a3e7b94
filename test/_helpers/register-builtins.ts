// Loaded by ava before every test file (package.json "ava.require"): the tests' composition
// root, like bin/isthmus.ts for the command. The core registers no filter by itself.
import { Agent, setGlobalDispatcher } from 'undici'
import { registerBuiltinFilters } from '../../filters/index.js'

registerBuiltinFilters()

// The tests' fetch() keeps an idle connection for 1 s, not undici's 4 s: servers here close
// idle keep-alive connections after 5 s, and a test process stalled by a busy machine for more
// than the 1 s between the two would send a request on a socket the server is closing
// ("other side closed"), a race of HTTP keep-alive, not of the gateway.
setGlobalDispatcher(new Agent({ keepAliveTimeout: 1000, keepAliveMaxTimeout: 1000 }))
