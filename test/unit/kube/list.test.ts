import { describe, expect, it } from 'vitest'
import { listAll, type Page } from '../../../lib/kube/list.ts'

interface Item {
  metadata?: { name: string; managedFields?: unknown[]; labels?: Record<string, string> }
}

/** Pages of `size` items out of `total`, each carrying managedFields, as an API server sends them. */
function pages(total: number, size: number) {
  const requests: Array<{ limit: number; _continue?: string }> = []
  const fetchPage = async (page: { limit: number; _continue?: string }): Promise<Page<Item>> => {
    requests.push(page)
    const start = page._continue ? Number(page._continue) : 0
    const end = Math.min(total, start + size)
    const items = Array.from({ length: end - start }, (_, i) => ({
      metadata: { name: `item-${start + i}`, labels: { app: 'a' }, managedFields: [{ manager: 'kubectl', operation: 'Update' }] },
    }))
    return { items, metadata: end < total ? { _continue: String(end) } : {} }
  }
  return { fetchPage, requests }
}

describe('listAll', () => {
  it('follows continue tokens page by page and returns every item once', async () => {
    const { fetchPage, requests } = pages(1_234, 500)
    const items = await listAll(fetchPage, 500)
    expect(items.map((i) => i.metadata?.name)).toEqual(Array.from({ length: 1_234 }, (_, i) => `item-${i}`))
    expect(requests).toEqual([{ limit: 500 }, { limit: 500, _continue: '500' }, { limit: 500, _continue: '1000' }])
  })

  it('drops managedFields from every item and keeps the rest of the metadata', async () => {
    const { fetchPage } = pages(3, 2)
    const items = await listAll(fetchPage)
    for (const item of items) {
      expect(item.metadata).not.toHaveProperty('managedFields')
      expect(item.metadata?.labels).toEqual({ app: 'a' })
    }
  })

  it('passes items without metadata through unchanged', async () => {
    const items = await listAll(async () => ({ items: [{}, { metadata: { name: 'x' } }] as Item[] }))
    expect(items).toEqual([{}, { metadata: { name: 'x' } }])
  })
})
