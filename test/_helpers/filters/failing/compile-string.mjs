export default { name: 'compile-string', schema: { type: 'object' }, compile () { throw 'bad options, says the filter' }, create: () => ({}) } // eslint-disable-line no-throw-literal
