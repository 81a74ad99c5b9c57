import { defineConfig } from 'vitest/config'

// Two projects: `unit` never needs a cluster; `e2e` runs against a real API
// server that test/e2e/global-setup.ts provides (local, kind or KUBECONFIG).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Generous: the first import of client-node alone can take seconds
          // on a loaded 2-core CI machine. Speed is measured by `make bench`.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          // One shared cluster; key rotation restarts the control plane, so
          // files that rotate must not overlap with others.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 1_800_000,
        },
      },
    ],
  },
})
