// Builds the package's runnable files into dist/: one ESM bundle per runbook
// plus the umbrella command, sharing chunks, with the dependencies inside.
// The repository runs the TypeScript sources directly (Node strips types);
// the installed package cannot (Node refuses to strip types under
// node_modules), and a bundle also starts several times faster.
//
//   node tools/build.ts        (npm pack and npm publish run it: prepack)
import { chmod, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { build, type Plugin } from 'esbuild'

const root = join(import.meta.dirname, '..')
const outdir = join(root, 'dist')
const entries = ['kube-token-runbooks', 'rotate-tokens', 'verify-token', 'regenerate-tokens', 'restart-dependent-pods', 'fix-calico']

/**
 * Each executable is a two-line entry that runs its runbook's `main`. The
 * runbook module itself may land in a shared chunk (rotate-tokens imports
 * the others), where its own entry-point check would compare the chunk's
 * URL with the script path and quietly do nothing.
 */
const entryPlugin: Plugin = {
  name: 'runbook-entries',
  setup(b) {
    b.onResolve({ filter: /^entry:/ }, (args) => ({ path: args.path.slice('entry:'.length), namespace: 'entry' }))
    b.onLoad({ filter: /.*/, namespace: 'entry' }, (args) => ({
      contents: [
        '#!/usr/bin/env node',
        `import { main } from ${JSON.stringify(join(root, 'runbooks', `${args.path}.ts`))}`,
        `import { runMain } from ${JSON.stringify(join(root, 'lib', 'cli', 'main.ts'))}`,
        'await runMain(import.meta.url, main)',
      ].join('\n'),
      resolveDir: root,
      loader: 'ts',
    }))
  },
}

await rm(outdir, { recursive: true, force: true })
await build({
  entryPoints: Object.fromEntries(entries.map((name) => [name, `entry:${name}`])),
  plugins: [entryPlugin],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22.19',
  chunkNames: 'chunks/[name]-[hash]',
  // Some dependencies are CommonJS and call require(): give ESM chunks one.
  banner: { js: "import { createRequire as __ktrCreateRequire } from 'node:module'; const require = __ktrCreateRequire(import.meta.url);" },
  minify: true,
  legalComments: 'linked',
  logLevel: 'warning',
})
for (const name of await readdir(outdir)) if (name.endsWith('.js')) await chmod(join(outdir, name), 0o755)
console.error(`built ${entries.length} entry points into ${outdir}`)
