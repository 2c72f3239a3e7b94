export default { name: 'compile-null', schema: { type: 'object' }, compile () { throw null }, create: () => ({}) } // eslint-disable-line no-throw-literal
