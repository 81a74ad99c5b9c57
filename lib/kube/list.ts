// Paged lists: one cluster-wide request per page of `limit` objects instead of
// a request per namespace or object, so 10,000 Secrets cost 20 requests and
// memory stays bounded by what the caller keeps.
export interface Page<T> {
  items: T[]
  metadata?: { _continue?: string; resourceVersion?: string }
}

export type PageFetcher<T> = (page: { limit: number; _continue?: string }) => Promise<Page<T>>

export async function* listPaged<T>(fetchPage: PageFetcher<T>, limit = 500): AsyncGenerator<T> {
  let next: string | undefined
  do {
    const page = await fetchPage(next ? { limit, _continue: next } : { limit })
    yield* page.items
    next = page.metadata?._continue || undefined
  } while (next)
}

export async function listAll<T>(fetchPage: PageFetcher<T>, limit = 500): Promise<T[]> {
  const items: T[] = []
  for await (const item of listPaged(fetchPage, limit)) items.push(item)
  return items
}
