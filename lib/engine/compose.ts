// Running one runbook's steps inside another (rotate-tokens runs those of
// regenerate-tokens, restart-dependent-pods, fix-calico and verify-token):
// the same step objects, each handed its own runbook's context, which the
// outer context holds. One process, one engine run, one report; nothing is
// re-parsed or re-decided between runbooks.
import type { Step } from './types.ts'

/** `steps` as steps of an outer runbook whose context holds theirs (`inner(outer)`). */
export function within<O, I>(steps: readonly Step<I>[], inner: (outer: O) => I): Step<O>[] {
  return steps.map((step) => ({
    id: step.id,
    title: step.title,
    description: step.description,
    ...(step.readOnly ? { readOnly: true as const } : {}),
    ...(step.requires ? { requires: step.requires } : {}),
    ...(step.outside ? { outside: (outer: O) => step.outside!(inner(outer)) } : {}),
    kubectl: (outer: O) => step.kubectl(inner(outer)),
    check: (outer: O) => step.check(inner(outer)),
    ...(step.apply ? { apply: (outer: O, check: Parameters<NonNullable<Step<I>['apply']>>[1]) => step.apply!(inner(outer), check) } : {}),
    ...(step.verify ? { verify: (outer: O, check: Parameters<NonNullable<Step<I>['verify']>>[1]) => step.verify!(inner(outer), check) } : {}),
  }))
}
