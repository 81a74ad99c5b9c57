// How objects are named throughout the workloads core: `namespace/name` keys,
// the three facts that identify a pod, a clock-free time reader and a
// locale-free string order, so plans sort the same on every machine.
import type { V1ObjectMeta, V1Pod } from '@kubernetes/client-node'

/** `namespace/name`: how Secrets and owners are keyed (the same as `kubectl get -n namespace name`). */
export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`
}

/** The key of an object; an empty namespace is `default`, as the API server reads it. */
export function keyOf(meta: V1ObjectMeta | undefined): string {
  return objectKey(namespaceOf(meta), meta?.name ?? '')
}

/** Splits a `namespace/name` key at its first slash (names cannot contain one). */
export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/')
  return slash < 0 ? { namespace: 'default', name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) }
}

export function namespaceOf(meta: V1ObjectMeta | undefined): string {
  return meta?.namespace || 'default'
}

/** What identifies one pod: a pod re-created under the same name has a new uid. */
export interface PodRef {
  readonly namespace: string
  readonly name: string
  readonly uid: string
}

export function podRef(pod: V1Pod): PodRef {
  return { namespace: namespaceOf(pod.metadata), name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '' }
}

/**
 * Milliseconds since the epoch of an API timestamp, or undefined. The typed
 * client turns timestamps into Dates; objects read as raw JSON carry RFC 3339
 * strings, so both are accepted.
 */
export function timeOf(value: Date | string | undefined | null): number | undefined {
  if (value === undefined || value === null) return undefined
  const ms = value instanceof Date ? value.getTime() : Date.parse(value)
  return Number.isNaN(ms) ? undefined : ms
}

/** Code-unit order: deterministic, independent of the machine's locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
