// The package's version, for --version and the JSON report: read from
// package.json so a release bump is one edit (a bundle inlines it).
import pkg from '../../package.json' with { type: 'json' }

export const VERSION: string = pkg.version
