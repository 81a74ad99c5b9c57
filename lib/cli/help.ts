// --help, generated from the same spec the parser reads: usage, summary, the
// runbook's steps, every flag with its environment variable and default,
// where settings come from, exit codes, examples.
import { allFlags, COMMON_FLAGS, envName, usageOf, type CliSpec, type FlagSpec } from './flags.ts'

export interface HelpStep {
  id: string
  description: string
  readOnly?: true
}

export const PRECEDENCE =
  'Settings come from, highest first: flags > environment (KTR_<FLAG>, e.g. KTR_NAMESPACE, KTR_OUTPUT, KTR_YES; and KUBECONFIG) > the .env file (--env-file, default ./.env; it never changes the environment) > defaults.'

export const EXIT_CODES: readonly [number, string][] = [
  [0, 'done, or nothing to do'],
  [1, 'ran, but something is wrong or failed'],
  [2, 'usage error or bad input (nothing was changed)'],
]

export function helpText(spec: CliSpec, steps?: readonly HelpStep[]): string {
  const positionals = (spec.positionals ?? []).map((p) => {
    const name = `<${p.name}>${p.variadic ? '...' : ''}`
    return p.required ? name : `[${name}]`
  })
  const out: string[] = [`Usage: ${[spec.name, '[flags]', ...positionals].join(' ')}`, '', spec.summary]

  if (spec.positionals && spec.positionals.length > 0) {
    out.push('', 'Arguments:', ...table(spec.positionals.map((p) => [`<${p.name}>`, p.description])))
  }
  if (steps && steps.length > 0) {
    out.push('', 'Steps (each is checked first and changed only when needed):')
    out.push(...table(steps.map((s, i) => [`${i + 1}. ${s.id}`, `${s.description}${s.readOnly ? ' (read-only)' : ''}`])))
  }
  const own = spec.flags ?? []
  if (own.length > 0) out.push('', 'Flags:', ...flagRows(own))
  out.push('', own.length > 0 ? 'Common flags:' : 'Flags:', ...flagRows(COMMON_FLAGS))
  out.push('', 'Configuration:', ...wrap(PRECEDENCE, 78).map((l) => `  ${l}`))
  out.push('', 'Exit codes:', ...EXIT_CODES.map(([code, meaning]) => `  ${code}  ${meaning}`))
  const examples = spec.examples ?? [
    { command: `${spec.name} --dry-run`, description: 'See what would change, changing nothing.' },
    { command: `${spec.name} --yes -o json`, description: 'Apply without asking; the report as JSON on stdout.' },
  ]
  out.push('', 'Examples:')
  for (const e of examples) out.push(`  # ${e.description}`, `  $ ${e.command}`)
  return `${out.join('\n')}\n`
}

function flagRows(flags: readonly FlagSpec[]): string[] {
  return table(flags.map((f) => [usageOf(f), describeFlag(f)]))
}

function describeFlag(flag: FlagSpec): string[] {
  const notes: string[] = []
  if (flag.type === 'string[]') notes.push('repeatable')
  const variable = flag.envHelp ?? envName(flag)
  if (variable) notes.push(`env: ${variable}${flag.type === 'string[]' ? ', comma-separated' : ''}`)
  if (flag.default !== undefined && !(Array.isArray(flag.default) && flag.default.length === 0)) {
    notes.push(`default: ${Array.isArray(flag.default) ? flag.default.join(',') : String(flag.default)}`)
  }
  // The notes get their own line, so a variable name is never split from "env:".
  return [...wrap(flag.description, DESCRIPTION_WIDTH), ...(notes.length ? [`[${notes.join('; ')}]`] : [])]
}

const DESCRIPTION_WIDTH = 60

/** Two columns; the right one (pre-split lines, or text to wrap) continues under itself. */
function table(rows: readonly (readonly [string, string | string[]])[]): string[] {
  const width = Math.min(32, Math.max(...rows.map(([left]) => left.length)))
  const lines: string[] = []
  for (const [left, right] of rows) {
    const wrapped = Array.isArray(right) ? right : wrap(right, DESCRIPTION_WIDTH)
    if (left.length > width) {
      lines.push(`  ${left}`)
      for (const l of wrapped) lines.push(`  ${' '.repeat(width)}  ${l}`)
      continue
    }
    wrapped.forEach((l, i) => lines.push(`  ${(i === 0 ? left : '').padEnd(width)}  ${l}`))
  }
  return lines
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line ? `${line} ${word}` : word
    }
  }
  if (line) lines.push(line)
  return lines.length ? lines : ['']
}

/** Every flag the parser accepts for `spec`, as written in help: for tests and completion. */
export function flagNames(spec: CliSpec): string[] {
  return allFlags(spec).flatMap((f) => [`--${f.name}`, ...(f.alias ? [`-${f.alias}`] : [])])
}
