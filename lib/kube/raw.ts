// Plain HTTPS requests to the API server for what has no typed client:
// /openid/v1/jwks, and presenting a token as a bearer (the classic curl check).
// TLS is verified against the kubeconfig's CA, always.
import { request, type RequestOptions } from 'node:https'
import type { KubeConfig } from '@kubernetes/client-node'

export interface RawResponse {
  status: number
  body: string
  /** The server's Date header, if sent. */
  date?: string
}

export interface RawRequestOptions {
  method?: 'GET' | 'POST'
  /** Present this token instead of the kubeconfig's credentials. */
  bearerToken?: string
  body?: unknown
  timeoutMs?: number
}

export async function rawRequest(kc: KubeConfig, path: string, options: RawRequestOptions = {}): Promise<RawResponse> {
  const cluster = kc.getCurrentCluster()
  if (!cluster) throw new Error('the kubeconfig has no current cluster')
  const url = new URL(path, cluster.server)
  const opts: RequestOptions = { method: options.method ?? 'GET', headers: { Accept: 'application/json, */*' } }
  await kc.applyToHTTPSOptions(opts)
  if (options.bearerToken !== undefined) {
    // Only the CA stays: the request must authenticate with the token alone.
    // client-node also packs the client certificate into an agent: drop it.
    delete opts.agent
    delete opts.cert
    delete opts.key
    delete opts.pfx
    delete opts.auth
    opts.headers = { Accept: 'application/json, */*', Authorization: `Bearer ${options.bearerToken}` }
  }
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body)
  if (payload) opts.headers = { ...opts.headers, 'Content-Type': 'application/json' }
  return new Promise((resolve, reject) => {
    const req = request(url, { ...opts, timeout: options.timeoutMs ?? 10_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ...(res.headers.date ? { date: res.headers.date } : {}) }))
    })
    req.on('timeout', () => req.destroy(new Error(`request to ${url.origin} timed out`)))
    req.on('error', reject)
    if (payload) req.write(payload)
    req.end()
  })
}

/**
 * The API server's clock, rounded up to the next second. Times we stamp on
 * objects are compared with times the cluster stamps (pod startTime, whole
 * seconds), so they must come from the same clock, not the operator's laptop.
 * Its Date header has whole seconds: the real time is in [date, date + 1 s),
 * so date + 1 s is after it, and every pod that started before now compares
 * as earlier (an extra restart is better than a missed stale pod).
 */
export async function serverTime(kc: KubeConfig, fallback: () => Date): Promise<Date> {
  const res = await rawRequest(kc, '/version')
  const parsed = res.date ? Date.parse(res.date) : Number.NaN
  return Number.isNaN(parsed) ? fallback() : new Date(parsed + 1000)
}

/**
 * The API server's clock as serverTime reads it, asked once: later readings
 * add the time elapsed here, so a thousand restarts cost one request, and
 * each reading stays at or after the server's time (serverTime rounds up).
 */
export async function serverClock(kc: KubeConfig, fallback: () => Date, elapsed: () => number = () => performance.now(), read = serverTime): Promise<() => Date> {
  const t0 = elapsed()
  const server = (await read(kc, fallback)).getTime()
  return () => new Date(server + (elapsed() - t0))
}
