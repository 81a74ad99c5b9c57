// Running one runbook's steps inside another (rotate-tokens runs those of
// regenerate-tokens, restart-dependent-pods, fix-calico and verify-token):
// the same step objects, each handed its own runbook's context, which the
// outer context holds. One process, one engine run, one report, one set of
// findings (by step id, so an inner step's plan reads the same from inside
// and outside); nothing is re-parsed or re-decided between runbooks.
import type { AnyStep, Step } from './types.ts'

/** `steps` as steps of an outer runbook whose context holds theirs (`inner(outer)`). */
export function within<O, I>(steps: readonly AnyStep<I>[], inner: (outer: Readonly<O>) => I): AnyStep<O>[] {
  return steps.map((step) => withinOne(step, inner))
}

function withinOne<O, I, P, R>(step: Step<I, P, R>, inner: (outer: Readonly<O>) => I): Step<O, P, R> {
  return {
    id: step.id,
    title: step.title,
    description: step.description,
    ...(step.readOnly ? { readOnly: true as const } : {}),
    ...(step.requires ? { requires: step.requires } : {}),
    ...(step.outside ? { outside: (outer, plan) => step.outside!(inner(outer), plan) } : {}),
    kubectl: (outer, plan) => step.kubectl(inner(outer), plan),
    check: (outer, found) => step.check(inner(outer), found),
    ...(step.apply ? { apply: (outer, plan) => step.apply!(inner(outer), plan) } : {}),
    ...(step.verify ? { verify: (outer, plan, result) => step.verify!(inner(outer), plan, result) } : {}),
  }
}
