throw 'this module refuses to load' // eslint-disable-line no-throw-literal
