import js from '@eslint/js'
import tseslint from 'typescript-eslint'

// Pure modules decide; they never reach the cluster, the disk, a process or
// the terminal. Types from anywhere are fine (they vanish at run time).
const PURE = ['lib/token/**', 'lib/workloads/**', 'lib/report/**', 'lib/regenerate/select.ts', 'lib/regenerate/assess.ts', 'lib/calico/*.ts']
const PURE_EXCEPTIONS = ['lib/calico/node-dir.ts'] // node-local mode: reads and rewrites /etc/cni/net.d
const IO_IMPORTS = ['**/kube/*', '**/wait.ts', '**/backup.ts', '**/restore.ts', 'node:fs', 'node:fs/promises', 'node:child_process', 'zx', '@kubernetes/client-node']

export default tseslint.config(
  { ignores: ['node_modules/', '.cache/', 'coverage/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: PURE,
    ignores: PURE_EXCEPTIONS,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: IO_IMPORTS, allowTypeImports: true, message: 'pure modules import no I/O: take the value as a parameter, or move the pure part out of the I/O module' }] },
      ],
    },
  },
  {
    // I/O modules report progress to the Output sink they are handed, never
    // by importing the engine or the terminal's display.
    files: ['lib/kube/**', 'lib/backup.ts', 'lib/restore.ts', 'lib/regenerate/apply.ts', 'lib/wait.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/engine/run.ts', '**/engine/prompt.ts', '**/engine/summary.ts', '**/engine/index.ts', '**/output.ts', '**/cli/*'], allowTypeImports: true, message: 'take an Output (or a callback) as a parameter instead' }] },
      ],
    },
  },
)
