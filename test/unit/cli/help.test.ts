import { describe, expect, it } from 'vitest'
import { COMMON_FLAGS, defineCli, envName, type FlagSpec } from '../../../lib/cli/flags.ts'
import { flagNames, helpText } from '../../../lib/cli/help.ts'

const cli = defineCli({
  name: 'restart-dependent-pods',
  summary: 'Restart the pods that still use a token signed by a retired key.',
  flags: [
    { name: 'secret', alias: 's', type: 'string[]', valueName: 'namespace/name', description: 'Only pods that mount this Secret.' },
    { name: 'timeout', type: 'number', default: 300, description: 'Seconds to wait for each rollout.' },
    { name: 'strategy', type: 'string', allowed: ['rollout', 'evict'], default: 'rollout', description: 'How to restart.' },
  ],
  examples: [{ command: 'restart-dependent-pods -n kube-system --dry-run', description: 'See which pods would restart.' }],
})
const steps = [
  { id: 'find-pods', description: 'Finds pods that mount an affected Secret.', readOnly: true as const },
  { id: 'restart-owners', description: 'Restarts each owner so its pods get fresh tokens.' },
]
const help = helpText(cli, steps)

describe('helpText', () => {
  it('starts with the usage line and the summary', () => {
    expect(help.split('\n').slice(0, 3)).toEqual([
      'Usage: restart-dependent-pods [flags]',
      '',
      'Restart the pods that still use a token signed by a retired key.',
    ])
  })

  it.each(flagNames(cli))('mentions %s', (flag) => {
    expect(help).toMatch(new RegExp(`(^|[\\s,])${flag}([\\s,]|$)`, 'm'))
  })

  it.each(([...COMMON_FLAGS, ...(cli.flags ?? [])] as FlagSpec[]).map((f) => [f.name, f.envHelp ?? envName(f)] as const).filter(([, v]) => v))(
    '--%s names its environment variable %s',
    (_name, variable) => {
      expect(help).toContain(`env: ${variable}`)
    },
  )

  it('shows defaults, allowed values and repeatable flags', () => {
    expect(help).toMatch(/--timeout <n>\s+Seconds to wait for each rollout\.\n\s+\[env: KTR_TIMEOUT; default: 300\]/)
    expect(help).toContain('--strategy <rollout|evict>')
    expect(help).toContain('-o, --output <text|json>')
    expect(help).toMatch(/-s, --secret <namespace\/name>\.\.\.\s+Only pods that mount this Secret\.\n\s+\[repeatable; env: KTR_SECRET, comma-separated\]/)
  })

  it('lists the steps with ids and descriptions', () => {
    expect(help).toMatch(/1\. find-pods\s+Finds pods that mount an affected Secret\. \(read-only\)/)
    expect(help).toMatch(/2\. restart-owners\s+Restarts each owner so its pods get fresh tokens\./)
  })

  it('states precedence and exit codes', () => {
    expect(help).toMatch(/flags > environment \(KTR_<FLAG>.*\) > the .env file/s)
    expect(help).toMatch(/^ {2}0 {2}done, or nothing to do$/m)
    expect(help).toMatch(/^ {2}1 {2}ran, but something is wrong or failed$/m)
    expect(help).toMatch(/^ {2}2 {2}usage error or bad input/m)
  })

  it('shows the examples, with defaults when the spec has none', () => {
    expect(help).toContain('  $ restart-dependent-pods -n kube-system --dry-run')
    const bare = helpText(defineCli({ name: 'verify-token', summary: 'Check a token.' }))
    expect(bare).toContain('$ verify-token --dry-run')
    expect(bare).not.toContain('Steps')
    expect(bare).not.toContain('Common flags')
  })
})
