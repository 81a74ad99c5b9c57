// One run's shared settings and handles, resolved once: the Kubernetes
// client, the output, the redactor, the scope, the backup directory and the
// connection flags of every kubectl line. A runbook run alone opens one; so
// does rotate-tokens, which hands the same session to every runbook whose
// steps it runs, so nothing is lost or re-decided between them.
import { join } from 'node:path'
import { Backup, defaultBackupRoot, timestampDirName } from '../backup.ts'
import { connectionArgs, kubectlCommand } from '../engine/kubectl.ts'
import { UsageError } from '../errors.ts'
import { isNotFound, makeKube, statusOf, type Kube } from '../kube/clients.ts'
import { withApiErrors } from '../kube/errors.ts'
import { fetchJwks } from '../kube/token-checks.ts'
import type { Scope } from '../secrets.ts'
import type { Output, TextRedactor } from '../output.ts'
import type { Redactor } from '../redact.ts'
import type { CommonOptions, Env, ParsedCli } from './flags.ts'
import { loadKubeConfig, namespaceScope } from './kube.ts'
import type { MainIO } from './main.ts'

export interface Session {
  kube: Kube
  output: Output
  redactor: Redactor
  now: () => Date
  /** Where token Secrets and pods are looked for (-n, -A, or the runbook's default). */
  scope: Scope
  /** Whether -n was given (not just the context's namespace). */
  namespaceGiven: boolean
  /** -l, when given. */
  selector?: string
  /** --kubeconfig/--context as given, for commands built elsewhere. */
  connection: string[]
  dryRun: boolean
  cluster: { context: string; server: string }
  /** The kubeconfig's user entry of the context (who the API server sees is preflight's to say). */
  user: string
  /** The one backup directory of this run (created on first save). */
  backup: Backup
  /** A kubectl line an operator can paste: carries --kubeconfig/--context as given; every argument quoted. */
  kubectl: (...args: string[]) => string
  /** kubectl's scope flags for this run: `-A`, or `-n <ns>`, plus `-l` when given. */
  scopeArgs: string[]
  env: Env
  /**
   * The API server's /openid/v1/jwks, read once per run: every step that
   * checks signatures (preflight, inventory, Calico, proof) judges with the
   * same keys, and a rotation asks the server once instead of four times.
   */
  clusterJwks: () => Promise<unknown>
}

export interface SessionOptions {
  runbook: string
  /** Without -n or -A: all namespaces (rotate-tokens: the signing key is cluster-wide) or, like kubectl, the context's namespace. */
  defaultScope: 'all' | 'context'
}

/** What runbookMain hands a runbook's context factory (ContextArgs), narrowed to what a session needs. */
export interface SessionInput {
  cli: Pick<ParsedCli, 'common' | 'env' | 'envFileLoaded'> & { flags: object }
  output: Output
  redactor: TextRedactor
  io: Pick<MainIO, 'cwd' | 'now'>
}

export async function openSession(input: SessionInput, opts: SessionOptions): Promise<Session> {
  const { cli, output } = input
  const redactor = input.redactor as Redactor
  const now = input.io.now
  const common = cli.common
  const kc = await loadKubeConfig(common, cli.env, { cwd: input.io.cwd })
  const scope: Scope = opts.defaultScope === 'all' && !common.namespace ? { all: true } : namespaceScope(common, kc)
  const cluster = { context: kc.getCurrentContext(), server: kc.getCurrentCluster()?.server ?? '' }
  const backupFlag = (cli.flags as { backupDir?: string }).backupDir
  const backupDir = backupFlag ?? join(defaultBackupRoot(cli.env), timestampDirName(now()))
  const connection = connectionArgs(common)
  const kube = await makeKube(kc, { requestTimeoutMs: common.requestTimeoutMs })
  if (common.namespace) await requireNamespace(kube, common.namespace)
  const session: Session = {
    kube,
    output,
    redactor,
    now,
    scope,
    namespaceGiven: common.namespace !== undefined,
    ...(common.selector ? { selector: common.selector } : {}),
    connection,
    dryRun: common.dryRun,
    cluster,
    user: kc.getCurrentUser()?.name ?? '',
    backup: new Backup(backupDir, opts.runbook, cluster.server, now),
    kubectl: (...args) => kubectlCommand(...connection, ...args),
    scopeArgs: [...(scope.all ? ['-A'] : ['-n', scope.namespace]), ...(common.selector ? ['-l', common.selector] : [])],
    env: cli.env,
    clusterJwks: once(() => fetchJwks(kube)),
  }
  output.info(describeSettings(session, cli.envFileLoaded, common))
  return session
}

/** `read` at most once while it succeeds; a failure is not kept, so a later step may ask again. */
function once<T>(read: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined
  return () => {
    pending ??= read().catch((err: unknown) => {
      pending = undefined
      throw err
    })
    return pending
  }
}

/** The settings in use, printed once on stderr before anything changes. */
export function describeSettings(session: Pick<Session, 'cluster' | 'scope' | 'selector'> & Partial<Pick<Session, 'user'>>, envFile: string | undefined, common: Pick<CommonOptions, 'namespace'>): string {
  const scope = session.scope.all ? 'all namespaces' : `namespace ${session.scope.namespace}${common.namespace ? '' : " (the context's)"}`
  return [
    `cluster: context ${session.cluster.context || '(none)'} at ${session.cluster.server || '(no server)'}`,
    `user: ${session.user || '(none)'} (kubeconfig)`,
    `scope: ${scope}${session.selector ? `, pods and Secrets matching ${session.selector}` : ''}`,
    `env file: ${envFile ?? 'none'}`,
  ].join('; ')
}

/** A typo in -n must never widen or misdirect a run: a namespace that does not exist is a usage error. */
async function requireNamespace(kube: Kube, name: string): Promise<void> {
  try {
    await withApiErrors(kube.kc, () => kube.core.readNamespace({ name }))
  } catch (err) {
    if (isNotFound(err) || isNotFound((err as { cause?: unknown }).cause)) {
      throw new UsageError(`namespace "${name}" does not exist on this cluster: check -n (kubectl get namespaces)`)
    }
    // Forbidden to read namespaces: the run's own reads will say what is missing.
    if (statusOf((err as { cause?: unknown }).cause ?? err) === 403) return
    throw err
  }
}
