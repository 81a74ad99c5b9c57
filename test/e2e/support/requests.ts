// How much a run asked of the API server, counted by the server itself: its
// /metrics counter apiserver_request_total, summed by verb and resource
// ("LIST secrets", "CREATE pods/eviction"). Scrape before and after a run and
// subtract. The counter is cluster-wide (the controllers and kwok count too),
// so tests look at the verbs and resources a runbook uses, and it restarts
// from zero with the API server: across a restart, add the two halves.
import type * as k8s from '@kubernetes/client-node'
import { rawRequest } from '../../../lib/kube/raw.ts'

/** `VERB resource[/subresource]` → requests served. */
export type RequestCounts = ReadonlyMap<string, number>

const SAMPLE = /^apiserver_request_total\{([^}]*)\}\s+(\S+)/
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g

/** Sums apiserver_request_total samples of a Prometheus text exposition by verb and resource (codes, scopes and versions added up). */
export function parseRequestCounts(text: string): RequestCounts {
  const counts = new Map<string, number>()
  for (const line of text.split('\n')) {
    const sample = SAMPLE.exec(line)
    if (!sample) continue
    const labels = Object.fromEntries([...sample[1]!.matchAll(LABEL)].map((m) => [m[1]!, m[2]!]))
    if (!labels.resource) continue // /healthz, /readyz, discovery: not API objects
    const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`
    counts.set(key, (counts.get(key) ?? 0) + Number(sample[2]))
  }
  return counts
}

/** The API server's request counts now (as the kubeconfig's user, who must be allowed GET /metrics). */
export async function scrapeRequestCounts(kc: k8s.KubeConfig): Promise<RequestCounts> {
  const res = await rawRequest(kc, '/metrics', { timeoutMs: 20_000 })
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${res.body.slice(0, 200)}`)
  const counts = parseRequestCounts(res.body)
  if (counts.size === 0) throw new Error('GET /metrics holds no apiserver_request_total sample: cannot count requests')
  return counts
}

/** What was served between two scrapes of the same API server process. */
export function requestsBetween(before: RequestCounts, after: RequestCounts): RequestCounts {
  const delta = new Map<string, number>()
  for (const [key, value] of after) {
    const served = value - (before.get(key) ?? 0)
    if (served > 0) delta.set(key, served)
  }
  return delta
}

/** Counts of two spans added (e.g. the API server before and after its restart). */
export function addRequests(...spans: RequestCounts[]): RequestCounts {
  const sum = new Map<string, number>()
  for (const span of spans) for (const [key, value] of span) sum.set(key, (sum.get(key) ?? 0) + value)
  return sum
}

/** Requests of these verbs on these resources (`LIST`, `secrets`; a resource matches its subresources too when given as `pods/`). */
export function countOf(counts: RequestCounts, verbs: readonly string[], resources: readonly string[]): number {
  let total = 0
  for (const [key, value] of counts) {
    const [verb, resource] = key.split(' ') as [string, string]
    if (!verbs.includes(verb)) continue
    if (resources.some((r) => (r.endsWith('/') ? resource.startsWith(r) : resource === r))) total += value
  }
  return total
}

/** One line for the test log: the busiest keys first. */
export function describeRequests(counts: RequestCounts, resources: readonly string[]): string {
  const wanted = [...counts].filter(([key]) => resources.some((r) => key.split(' ')[1]!.startsWith(r)))
  return wanted.sort((a, b) => b[1] - a[1]).map(([key, value]) => `${key}=${value}`).join(', ') || 'none'
}
