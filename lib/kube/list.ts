// Paged lists: one cluster-wide request per page of `limit` objects instead of
// a request per namespace or object, so 10,000 Secrets cost 20 requests and
// memory stays bounded by what the caller keeps. What it keeps is slimmed as
// each page arrives: `metadata.managedFields` (server-side apply bookkeeping,
// often a third of a pod's size) is read by nothing here, and backups and
// re-creates drop it anyway, so 30,000 pods do not carry it through a run.
export interface Page<T> {
  items: T[]
  metadata?: { _continue?: string; resourceVersion?: string }
}

export type PageFetcher<T> = (page: { limit: number; _continue?: string }) => Promise<Page<T>>

export async function* listPaged<T>(fetchPage: PageFetcher<T>, limit = 500): AsyncGenerator<T> {
  let next: string | undefined
  do {
    const page = await fetchPage(next ? { limit, _continue: next } : { limit })
    for (const item of page.items) yield withoutManagedFields(item)
    next = page.metadata?._continue || undefined
  } while (next)
}

export async function listAll<T>(fetchPage: PageFetcher<T>, limit = 500): Promise<T[]> {
  const items: T[] = []
  for await (const item of listPaged(fetchPage, limit)) items.push(item)
  return items
}

/** The object without `metadata.managedFields` (removed in place: list items are ours). */
export function withoutManagedFields<T>(item: T): T {
  const metadata = (item as { metadata?: { managedFields?: unknown } } | undefined)?.metadata
  if (metadata && 'managedFields' in metadata) delete metadata.managedFields
  return item
}
