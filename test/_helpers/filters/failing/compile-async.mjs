// An async compile that rejects: the config's error, never an unhandled rejection.
export default { name: 'compile-async', schema: { type: 'object' }, async compile () { await null; throw new Error('async compile failed') }, create: () => ({}) }
