// A kubelet's log, read for the two symptoms of a signing-key change that the
// origin procedure looked for with `journalctl -u kubelet`:
//  - a Secret a pod needs is gone: `Couldn't get secret ns/name: secret "x"
//    not found`, `MountVolume.SetUp failed for volume "token" ... : secret "x"
//    not found` (FailedMount), a pull secret or an env secretKeyRef that is
//    not found;
//  - the CNI plugin is rejected by the API server: Calico's plugin logs
//    `error getting ClusterInformation: connection is unauthorized:
//    Unauthorized`, which the kubelet repeats for every sandbox it cannot
//    create (or tear down).
// Pure: lines in, findings out. What a line says is a lead, never a fact: the
// runbook asks the API server before it acts on a Secret named here.
//
// Formats read: klog text (`E1130 10:55:21.270118  5776 secret.go:189] …`,
// unstructured and structured `key="value"` with `\"`-escaped quotes, as
// `journalctl -o cat` or a log file has it), the same behind a journald or
// syslog prefix (`Nov 30 10:55:21 node1 kubelet[5776]: E1130 …`), and
// --logging-format=json (`{"ts":1764500121.27,"msg":…}`).

/** What a line shows. */
export const KubeletLogKind = {
  missingSecret: 'missing-secret',
  cniUnauthorized: 'cni-unauthorized',
} as const
export type KubeletLogKind = (typeof KubeletLogKind)[keyof typeof KubeletLogKind]

/** The pod a line is about, as far as the line says. */
export interface LoggedPod {
  readonly namespace?: string
  readonly name?: string
  readonly uid?: string
}

export interface MissingSecretLine {
  readonly kind: typeof KubeletLogKind.missingSecret
  /** The Secret's name, as the kubelet wrote it. */
  readonly secret: string
  /** Its namespace, when the line says (`Couldn't get secret ns/name`, `pod="ns/name"`). */
  readonly namespace?: string
  readonly pod?: LoggedPod
  /** The volume that could not be mounted (FailedMount lines). */
  readonly volume?: string
}

export interface CniUnauthorizedLine {
  readonly kind: typeof KubeletLogKind.cniUnauthorized
  /** The CNI plugin type (`calico`), when the line names it. */
  readonly plugin?: string
  /** `add` (sandbox creation) or `delete` (teardown), when the line says. */
  readonly operation?: string
  readonly pod?: LoggedPod
}

export type KubeletLogFinding = MissingSecretLine | CniUnauthorizedLine

export interface ParsedLine {
  /** When the line was logged (ISO 8601), if its header says; klog headers have no year (see klogTime). */
  readonly at?: string
  readonly findings: readonly KubeletLogFinding[]
}

/** Longer lines are cut to this before matching: a kubelet line is a few KiB at most. */
export const MAX_LINE_CHARS = 64 * 1024

// klog's header: severity, MMDD, time, thread id, file:line]. Anywhere in the
// line, so a journald or syslog prefix in front of it does not matter.
const KLOG_HEADER = /\b([IWEF])(\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{1,9})\s+\d+ [^\s\]]+\]/

const NOT_FOUND = /\bsecrets? "([^"]+)" not found/g
// What makes a "not found" line the kubelet's own report of a missing Secret
// (and not, say, a container's log line that mentions one).
const SECRET_CONTEXTS = [
  /Couldn't get secret/,
  /MountVolume\.SetUp failed for volume/,
  /Error preparing data for projected volume/,
  /\bFailedMount\b/,
  /Unable to retrieve pull secret/,
  /CreateContainerConfigError/,
  /Error syncing pod/,
]
const COULD_NOT_GET = /Couldn't get secret (?:payload )?([a-z0-9][a-z0-9.-]*)\/([^\s:]+)/
const VOLUME = /MountVolume\.SetUp failed for volume "([^"]*)"/
const PROJECTED = /Error preparing data for projected volume (\S+) for pod ([a-z0-9][a-z0-9.-]*)\/([^\s:]+)/
// `pod "mounter-678b47cbf-n59r4" (UID: "522bb6de-…")` (operation_generator's detailed error).
const POD_WITH_UID = /\bpod "([^"]+)" \(UID: "([0-9a-f-]{36})"\)/
// Structured keys: pod="ns/name", object="ns/name" (an event), podUID="…".
const POD_KEY = /\b(?:pod|object)="([a-z0-9][a-z0-9.-]*)\/([^"]+)"/
const POD_UID_KEY = /\bpodUID="([0-9a-f-]{36})"/
// JSON format: "pod":{"name":"x","namespace":"y"} (klog.KObj).
const POD_JSON = /"pod":\{"name":"([^"]+)","namespace":"([^"]+)"\}/
// `volumeName:kubernetes.io/secret/<pod uid>-<volume>` (nestedpendingoperations).
const VOLUME_UID = /kubernetes\.io\/(?:secret|projected)\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-/
// `"web-1_default(1c2d…)"` in pod_workers' messages.
const POD_FORMAT = /"([a-z0-9][a-z0-9.-]*)_([a-z0-9][a-z0-9-]*)\(([0-9a-f-]{36})\)"/

const UNAUTHORIZED = /\bUnauthorized\b/
// What makes an Unauthorized line the CNI plugin's: its type, Calico's own words, or the sandbox network step.
const CNI_CONTEXTS = [/plugin type="[^"]+"/, /ClusterInformation/, /connection is unauthorized/, /network for sandbox/, /\bCNI\b/]
const PLUGIN = /plugin type="([^"]+)"(?: name="[^"]*")? failed \((\w+)\)/
const PLUGIN_TYPE = /plugin type="([^"]+)"/

/**
 * Reads one line of a kubelet's log. `now` dates klog headers, which carry
 * no year (the latest such time not after now, give or take a day). Lines
 * that show neither symptom have no findings.
 */
export function parseKubeletLine(raw: string, now: Date): ParsedLine {
  const cut = raw.length > MAX_LINE_CHARS ? raw.slice(0, MAX_LINE_CHARS) : raw
  const json = cut.trimStart().startsWith('{') ? jsonTime(cut) : undefined
  // Structured values escape their quotes (\", and \\\" one level down): read them unescaped.
  const line = cut.replace(/\\+"/g, '"')
  const at = json ?? klogTime(line, now)
  const findings: KubeletLogFinding[] = [...missingSecrets(line), ...cniUnauthorized(line)]
  return { ...(at ? { at } : {}), findings }
}

function missingSecrets(line: string): MissingSecretLine[] {
  if (!line.includes('not found') || !SECRET_CONTEXTS.some((context) => context.test(line))) return []
  const names = [...new Set([...line.matchAll(NOT_FOUND)].map((match) => match[1] ?? '').filter(Boolean))]
  if (names.length === 0) return []
  const pod = podOf(line)
  const fetched = COULD_NOT_GET.exec(line)
  const projected = PROJECTED.exec(line)
  const volume = VOLUME.exec(line)?.[1] ?? projected?.[1]
  return names.map((secret) => {
    // `Couldn't get secret ns/name` names the namespace of that one Secret; otherwise a Secret is in its pod's namespace.
    const namespace = fetched && fetched[2] === secret ? fetched[1] : pod?.namespace
    return { kind: KubeletLogKind.missingSecret, secret, ...(namespace ? { namespace } : {}), ...(pod ? { pod } : {}), ...(volume ? { volume } : {}) }
  })
}

function cniUnauthorized(line: string): CniUnauthorizedLine[] {
  if (!UNAUTHORIZED.test(line) || !CNI_CONTEXTS.some((context) => context.test(line))) return []
  const plugin = PLUGIN.exec(line)
  const type = plugin?.[1] ?? PLUGIN_TYPE.exec(line)?.[1] ?? (/ClusterInformation/.test(line) ? 'calico' : undefined)
  const pod = podOf(line)
  return [{ kind: KubeletLogKind.cniUnauthorized, ...(type ? { plugin: type } : {}), ...(plugin?.[2] ? { operation: plugin[2] } : {}), ...(pod ? { pod } : {}) }]
}

/** The pod a line is about: namespace, name and UID as far as any of the kubelet's ways of naming it say. */
function podOf(line: string): LoggedPod | undefined {
  const key = POD_KEY.exec(line)
  const json = POD_JSON.exec(line)
  const formatted = POD_FORMAT.exec(line)
  const withUid = POD_WITH_UID.exec(line)
  const projected = PROJECTED.exec(line)
  const namespace = key?.[1] ?? json?.[2] ?? formatted?.[2] ?? projected?.[2]
  const name = key?.[2] ?? json?.[1] ?? formatted?.[1] ?? withUid?.[1] ?? projected?.[3]
  const uid = withUid?.[2] ?? POD_UID_KEY.exec(line)?.[1] ?? formatted?.[3] ?? VOLUME_UID.exec(line)?.[1]
  if (namespace === undefined && name === undefined && uid === undefined) return undefined
  return { ...(namespace ? { namespace } : {}), ...(name ? { name } : {}), ...(uid ? { uid } : {}) }
}

/**
 * The time of a klog header (`E1130 10:55:21.270118`). klog writes the
 * kubelet's local time, so it is read as this machine's local time: right
 * when the runbook runs on the node whose log it reads (a node-local option),
 * and on nodes that keep UTC, as most do, anywhere that does too. klog writes
 * no year: it is the one that puts the time at or before `now` (plus a day of
 * clock skew), so a December line read in January is last year's.
 */
export function klogTime(line: string, now: Date): string | undefined {
  const m = KLOG_HEADER.exec(line)
  if (!m) return undefined
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number]
  if (month < 1 || month > 12 || day < 1 || day > 31) return undefined
  const ms = Number((m[7] ?? '0').padEnd(3, '0').slice(0, 3))
  const at = (year: number) => new Date(year, month - 1, day, hour, minute, second, ms).getTime()
  let year = now.getFullYear()
  if (at(year) > now.getTime() + 86_400_000) year -= 1
  return new Date(at(year)).toISOString()
}

/** `ts` of a --logging-format=json line: seconds since the epoch (or an RFC 3339 string). */
function jsonTime(line: string): string | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(line)
  } catch {
    return undefined
  }
  const ts = (parsed as { ts?: unknown } | null)?.ts
  const ms = typeof ts === 'number' ? ts * 1000 : typeof ts === 'string' ? Date.parse(ts) : Number.NaN
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined
}

// ---------------------------------------------------------------------------
// A whole log

/** One Secret the log says is not found, with every line about it folded in. */
export interface LoggedMissingSecret {
  readonly secret: string
  /** Undefined when no line said; the runbook works it out from the pods (by UID or name). */
  readonly namespace?: string
  readonly pods: readonly LoggedPod[]
  readonly volumes: readonly string[]
  readonly lines: number
  readonly firstSeen?: string
  readonly lastSeen?: string
  /** One line as logged (the latest), cut to SAMPLE_CHARS. */
  readonly sample: string
}

export interface LoggedCniUnauthorized {
  readonly lines: number
  readonly plugins: readonly string[]
  readonly operations: readonly string[]
  readonly pods: readonly LoggedPod[]
  readonly firstSeen?: string
  readonly lastSeen?: string
  readonly sample: string
}

export interface KubeletLogScan {
  /** Lines read. */
  readonly lines: number
  /** Lines left out because they were logged before `since`. */
  readonly older: number
  readonly missingSecrets: readonly LoggedMissingSecret[]
  /** Undefined when no line shows the CNI plugin rejected. */
  readonly cniUnauthorized?: LoggedCniUnauthorized
}

export const SAMPLE_CHARS = 400
/** Pods kept per Secret (and for the CNI): a DaemonSet's thousand pods say it in the first few. */
export const MAX_PODS_KEPT = 20

export interface ScanOptions {
  readonly now: Date
  /** Lines logged before this are left out; lines without a time are kept. */
  readonly since?: Date
}

/**
 * Folds a log, line by line, into what it shows: each missing Secret once
 * (keyed by namespace and name; by name and pod where the namespace is not
 * said), the CNI Unauthorized lines together. Use `add` per line, then `result`.
 */
export function kubeletLogScanner(options: ScanOptions): { add(line: string): void; result(): KubeletLogScan } {
  let lines = 0
  let older = 0
  const secrets = new Map<string, MutableSecret>()
  let cni: MutableCni | undefined
  const since = options.since?.getTime()
  return {
    add(raw: string) {
      lines++
      if (!raw.includes('not found') && !raw.includes('Unauthorized')) return // the common case, cheaply
      const parsed = parseKubeletLine(raw, options.now)
      if (parsed.findings.length === 0) return
      if (since !== undefined && parsed.at !== undefined && Date.parse(parsed.at) < since) {
        older++
        return
      }
      const sample = raw.length > SAMPLE_CHARS ? `${raw.slice(0, SAMPLE_CHARS)}…` : raw
      for (const finding of parsed.findings) {
        if (finding.kind === KubeletLogKind.missingSecret) {
          const key = finding.namespace ? `${finding.namespace}/${finding.secret}` : `?/${finding.secret}/${finding.pod?.uid ?? finding.pod?.name ?? ''}`
          const entry = secrets.get(key) ?? newSecret(finding)
          secrets.set(key, entry)
          fold(entry, parsed.at, sample, finding.pod)
          if (finding.volume && !entry.volumes.includes(finding.volume)) entry.volumes.push(finding.volume)
        } else {
          cni ??= { lines: 0, plugins: [], operations: [], pods: [], sample }
          fold(cni, parsed.at, sample, finding.pod)
          if (finding.plugin && !cni.plugins.includes(finding.plugin)) cni.plugins.push(finding.plugin)
          if (finding.operation && !cni.operations.includes(finding.operation)) cni.operations.push(finding.operation)
        }
      }
    },
    result() {
      const missingSecrets = mergeUnplaced([...secrets.values()]).sort(
        (a, b) => (a.namespace ?? '').localeCompare(b.namespace ?? '') || a.secret.localeCompare(b.secret),
      )
      return { lines, older, missingSecrets, ...(cni ? { cniUnauthorized: cni } : {}) }
    },
  }
}

/** Scans a whole log at once (tests, small inputs). */
export function scanKubeletLog(text: string, options: ScanOptions): KubeletLogScan {
  const scanner = kubeletLogScanner(options)
  for (const line of text.split('\n')) if (line.trim() !== '') scanner.add(line)
  return scanner.result()
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer U)[] ? U[] : T[K] }
type MutableSecret = Mutable<LoggedMissingSecret>
type MutableCni = Mutable<LoggedCniUnauthorized>

function newSecret(finding: MissingSecretLine): MutableSecret {
  return { secret: finding.secret, ...(finding.namespace ? { namespace: finding.namespace } : {}), pods: [], volumes: [], lines: 0, sample: '' }
}

function fold(entry: { lines: number; firstSeen?: string; lastSeen?: string; sample: string; pods: LoggedPod[] }, at: string | undefined, sample: string, pod: LoggedPod | undefined): void {
  entry.lines++
  if (at !== undefined) {
    if (entry.firstSeen === undefined || at < entry.firstSeen) entry.firstSeen = at
    if (entry.lastSeen === undefined || at >= entry.lastSeen) {
      entry.lastSeen = at
      entry.sample = sample
    }
  } else if (entry.lastSeen === undefined) {
    entry.sample = sample
  }
  if (pod) addPod(entry.pods, pod)
}

/** Adds a pod unless it is known already (same UID, or same namespace and name); fills in what the new sighting adds. */
function addPod(pods: LoggedPod[], pod: LoggedPod): void {
  const index = pods.findIndex((p) => (p.uid !== undefined && p.uid === pod.uid) || (p.name !== undefined && p.name === pod.name && (p.namespace ?? pod.namespace) === (pod.namespace ?? p.namespace)))
  if (index >= 0) {
    pods[index] = { ...pods[index], ...pod }
    return
  }
  if (pods.length < MAX_PODS_KEPT) pods.push(pod)
}

/**
 * A Secret seen both with its namespace (`Couldn't get secret ns/x`) and
 * without (the FailedMount line of the same failure) is one Secret: the
 * namespace-less entry joins the one entry of that name, if there is exactly one.
 */
function mergeUnplaced(entries: MutableSecret[]): MutableSecret[] {
  const placed = entries.filter((e) => e.namespace !== undefined)
  const out = [...placed]
  for (const entry of entries.filter((e) => e.namespace === undefined)) {
    const candidates = placed.filter((p) => p.secret === entry.secret)
    const same = out.find((e) => e.namespace === undefined && e.secret === entry.secret)
    const target = candidates.length === 1 ? candidates[0]! : same
    if (!target) {
      out.push(entry)
      continue
    }
    target.lines += entry.lines
    for (const pod of entry.pods) addPod(target.pods, pod)
    for (const volume of entry.volumes) if (!target.volumes.includes(volume)) target.volumes.push(volume)
    if (entry.firstSeen && (!target.firstSeen || entry.firstSeen < target.firstSeen)) target.firstSeen = entry.firstSeen
    if (entry.lastSeen && (!target.lastSeen || entry.lastSeen > target.lastSeen)) {
      target.lastSeen = entry.lastSeen
      target.sample = entry.sample
    }
  }
  return out
}
