throw null // eslint-disable-line no-throw-literal
