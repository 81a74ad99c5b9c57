// Label selectors as the API server evaluates them (metav1.LabelSelectorAsSelector):
// every matchLabels pair and every matchExpressions requirement must hold. A
// missing selector selects nothing; an empty one selects everything (what
// policy/v1 PodDisruptionBudgets document).
import type { V1LabelSelector, V1LabelSelectorRequirement } from '@kubernetes/client-node'

export const SelectorOperator = { In: 'In', NotIn: 'NotIn', Exists: 'Exists', DoesNotExist: 'DoesNotExist' } as const
export type SelectorOperator = (typeof SelectorOperator)[keyof typeof SelectorOperator]

type Labels = Readonly<Record<string, string>> | undefined

function requirementHolds(requirement: V1LabelSelectorRequirement, labels: Labels): boolean {
  const has = labels !== undefined && Object.hasOwn(labels, requirement.key)
  const value = has ? labels[requirement.key] : undefined
  const values = requirement.values ?? []
  switch (requirement.operator) {
    case SelectorOperator.In:
      return has && values.includes(value ?? '')
    case SelectorOperator.NotIn:
      // As in Kubernetes: a pod without the label is "not in" any set.
      return !has || !values.includes(value ?? '')
    case SelectorOperator.Exists:
      return has
    case SelectorOperator.DoesNotExist:
      return !has
    default:
      // The API server rejects such selectors, so this is a malformed object, not a cluster state.
      throw new Error(
        `label selector operator "${requirement.operator}" on key "${requirement.key}" is not one of ${Object.values(SelectorOperator).join(', ')}`,
      )
  }
}

/** Whether `selector` selects an object with `labels`. */
export function selectorMatches(selector: V1LabelSelector | undefined | null, labels: Labels): boolean {
  if (selector === undefined || selector === null) return false
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels === undefined || !Object.hasOwn(labels, key) || labels[key] !== value) return false
  }
  return (selector.matchExpressions ?? []).every((requirement) => requirementHolds(requirement, labels))
}
