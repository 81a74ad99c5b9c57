// The commands a step prints for the operator must paste into a shell and do
// what they say: build them from argument lists, never by gluing strings.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/

/** Quotes one argument for a POSIX shell (single quotes; `'` becomes `'\''`). */
export function shellQuote(arg: string): string {
  if (arg === '') return "''"
  if (SAFE.test(arg)) return arg
  return `'${arg.replaceAll("'", `'\\''`)}'`
}

/** `kubectl` and its arguments as one pasteable line: kubectlCommand('get', 'secret', '-n', ns, name). */
export function kubectlCommand(...args: string[]): string {
  return ['kubectl', ...args].map(shellQuote).join(' ')
}

/**
 * The connection flags an operator's own kubectl needs to reach the same
 * cluster (--kubeconfig/--context as given to the runbook), to splice into
 * kubectlCommand.
 */
export function connectionArgs(opts: { kubeconfig?: string | undefined; context?: string | undefined }): string[] {
  return [
    ...(opts.kubeconfig ? ['--kubeconfig', opts.kubeconfig] : []),
    ...(opts.context ? ['--context', opts.context] : []),
  ]
}
