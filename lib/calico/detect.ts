// Which Calico runs in the cluster, from the objects the I/O layer lists
// (ConfigMaps, DaemonSets, ServiceAccounts of kube-system and calico-system):
// how it was installed, its version, which ServiceAccount the CNI plugin's
// token belongs to, and what CNI config the nodes should have. Pure.
//
// Facts it rests on (projectcalico/calico, tigera/operator):
//  - manifest installs: DaemonSet calico-node and ConfigMap calico-config
//    (key cni_network_config) in kube-system; operator installs: DaemonSet
//    calico-node and ConfigMap cni-config (key config) in calico-system.
//  - The CNI token: the install-cni pod's own token up to v3.23; a
//    TokenRequest for calico-node in v3.24-v3.25 and for calico-cni-plugin
//    since v3.26 (node/pkg/cni/token_watch.go), overridable since v3.24 with
//    CALICO_CNI_SERVICE_ACCOUNT.
//  - The config embeds the token (policy.k8s_auth_token) up to v3.0; since
//    v3.1 it points to calico-kubeconfig only.
//  - install-cni names the file after CNI_CONF_NAME, by default
//    10-calico.conf (install-cni.sh, up to v3.15) or 10-calico.conflist (the
//    Go installer, v3.16+).
import type { V1ConfigMap, V1Container, V1DaemonSet, V1ServiceAccount } from '@kubernetes/client-node'
import { printable } from '../token/text.ts'
import { CNI_SERVICE_ACCOUNTS } from './assess.ts'
import { CniConfigError, CniConfigFormat, parseCniConfig } from './cni-config.ts'
import { TokenValueKind } from './token-value.ts'

export const CalicoInstallKind = {
  /** calico.yaml (or its Helm chart) applied into kube-system. */
  manifest: 'manifest',
  /** tigera-operator, which renders everything into calico-system. */
  operator: 'operator',
} as const
export type CalicoInstallKind = (typeof CalicoInstallKind)[keyof typeof CalicoInstallKind]

export const CALICO_NAMESPACES = { manifest: 'kube-system', operator: 'calico-system' } as const satisfies Record<CalicoInstallKind, string>
export const CALICO_NODE = 'calico-node'
export const DEFAULT_CNI_NET_DIR = '/etc/cni/net.d'
const [CALICO_NODE_ACCOUNT, CNI_PLUGIN_ACCOUNT] = CNI_SERVICE_ACCOUNTS
const DEFAULT_CONFIG_SOURCES = {
  manifest: { name: 'calico-config', key: 'cni_network_config' },
  operator: { name: 'cni-config', key: 'config' },
} as const satisfies Record<CalicoInstallKind, ConfigMapKey>

export interface CalicoObjects {
  readonly configMaps: readonly V1ConfigMap[]
  readonly daemonSets: readonly V1DaemonSet[]
  readonly serviceAccounts: readonly V1ServiceAccount[]
}

export interface CalicoVersion {
  readonly major: number
  readonly minor: number
  readonly patch: number
  /** The tag it was read from, e.g. v3.27.2. */
  readonly text: string
}

export interface ImageRef {
  readonly reference: string
  /** Registry and path, without tag or digest: docker.io/calico/node. */
  readonly repository: string
  readonly tag?: string
  readonly digest?: string
}

export interface ConfigMapKey {
  readonly name: string
  readonly key: string
}

export interface CniConfigSource {
  /** The ConfigMap key install-cni reads CNI_NETWORK_CONFIG from; absent when the DaemonSet sets it inline. */
  readonly configMap?: ConfigMapKey
  /** The template, when found. */
  readonly text?: string
}

export const CniServiceAccountBasis = {
  /** CALICO_CNI_SERVICE_ACCOUNT on the DaemonSet (v3.24+). */
  env: 'env',
  /** The default of the detected version. */
  version: 'version',
  /** Version unknown: calico-cni-plugin because it exists in the namespace. */
  serviceAccount: 'service-account',
  /** The DaemonSet's own ServiceAccount: the pod's token (v3.23 and older, or version unknown). */
  daemonSet: 'daemonset',
} as const
export type CniServiceAccountBasis = (typeof CniServiceAccountBasis)[keyof typeof CniServiceAccountBasis]

export const ExpectationBasis = {
  /** Read from the CNI config template itself. */
  config: 'config',
  /** Template unavailable: what the detected version's manifests ship. */
  version: 'version',
  /** Neither known: what current Calico ships. */
  default: 'default',
} as const
export type ExpectationBasis = (typeof ExpectationBasis)[keyof typeof ExpectationBasis]

export interface ExpectedCniConfig {
  readonly format: CniConfigFormat
  /** The file install-cni writes into the CNI config directory. */
  readonly fileName: string
  /** Whether the config itself carries the token (k8s_auth_token): v3.0 and older. */
  readonly embedsToken: boolean
  readonly basis: ExpectationBasis
}

export interface CalicoInstall {
  readonly kind: CalicoInstallKind
  readonly namespace: string
  readonly daemonSet: string
  /** The calico-node container's image. */
  readonly image?: ImageRef
  readonly version?: CalicoVersion
  readonly cniConfig: CniConfigSource
  readonly cniServiceAccount: string
  readonly cniServiceAccountBasis: CniServiceAccountBasis
  /** The node directory install-cni writes to (the cni-net-dir hostPath). */
  readonly cniNetDir: string
  readonly expected: ExpectedCniConfig
  /** Inconsistencies worth telling the operator, each ending with what to do. */
  readonly warnings: readonly string[]
}

/** Detects the Calico install, or undefined when there is no calico-node DaemonSet in kube-system or calico-system. */
export function detectCalico(objects: CalicoObjects): CalicoInstall | undefined {
  const operatorDaemonSet = findByName(objects.daemonSets, CALICO_NAMESPACES.operator, CALICO_NODE)
  const manifestDaemonSet = findByName(objects.daemonSets, CALICO_NAMESPACES.manifest, CALICO_NODE)
  const warnings: string[] = []
  if (operatorDaemonSet && manifestDaemonSet) {
    warnings.push(
      'calico-node runs in both kube-system and calico-system (an operator migration in progress or left behind); ' +
        'the operator install is used here, so wait for the migration to finish or delete the stale kube-system DaemonSet',
    )
  }
  const kind = operatorDaemonSet ? CalicoInstallKind.operator : manifestDaemonSet ? CalicoInstallKind.manifest : undefined
  const daemonSet = operatorDaemonSet ?? manifestDaemonSet
  if (kind === undefined || daemonSet === undefined) return undefined

  const namespace = CALICO_NAMESPACES[kind]
  const podSpec = daemonSet.spec?.template?.spec
  const containers = [...(podSpec?.initContainers ?? []), ...(podSpec?.containers ?? [])]
  const nodeContainer = podSpec?.containers?.find((container) => container.name === CALICO_NODE) ?? podSpec?.containers?.[0]
  const installCni = containers.find((container) => container.name === 'install-cni') ?? containers.find((container) => envVar(container, 'CNI_NETWORK_CONFIG'))

  const image = nodeContainer?.image === undefined ? undefined : parseImage(nodeContainer.image)
  const version = versionOf(image, warnings)
  const cniConfig = cniConfigOf(kind, namespace, installCni, objects.configMaps, warnings)
  const { name: cniServiceAccount, basis: cniServiceAccountBasis } = cniServiceAccountOf(namespace, daemonSet, containers, version, objects.serviceAccounts, warnings)
  const expected = expectedConfigOf(namespace, cniConfig, installCni, version, warnings)
  return {
    kind,
    namespace,
    daemonSet: CALICO_NODE,
    ...(image === undefined ? {} : { image }),
    ...(version === undefined ? {} : { version }),
    cniConfig,
    cniServiceAccount,
    cniServiceAccountBasis,
    cniNetDir: cniNetDirOf(daemonSet, installCni),
    expected,
    warnings,
  }
}

// ---------------------------------------------------------------------------
// Images and versions

/** Splits an image reference: [registry[:port]/]path[:tag][@digest]. */
export function parseImage(reference: string): ImageRef {
  const at = reference.indexOf('@')
  const name = at === -1 ? reference : reference.slice(0, at)
  const digest = at === -1 ? undefined : reference.slice(at + 1)
  // A colon after the last slash starts the tag; one before it is a registry port.
  const colon = name.lastIndexOf(':')
  const hasTag = colon > name.lastIndexOf('/')
  return {
    reference,
    repository: hasTag ? name.slice(0, colon) : name,
    ...(hasTag ? { tag: name.slice(colon + 1) } : {}),
    ...(digest === undefined ? {} : { digest }),
  }
}

const VERSION_TAG = /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+][0-9A-Za-z.+-]*)?$/

/** Reads v3.27.2, v3.27, v3.28.0-amd64, 3.27.2; undefined for master, latest and the like. */
export function parseCalicoVersion(tag: string): CalicoVersion | undefined {
  const match = VERSION_TAG.exec(tag)
  if (!match) return undefined
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0), text: tag }
}

export function versionAtLeast(version: CalicoVersion, major: number, minor: number): boolean {
  return version.major !== major ? version.major > major : version.minor >= minor
}

function versionOf(image: ImageRef | undefined, warnings: string[]): CalicoVersion | undefined {
  if (image === undefined) {
    warnings.push('the calico-node DaemonSet has no calico-node container image; the Calico version is unknown, so defaults for current Calico are assumed')
    return undefined
  }
  // Calico Enterprise numbers its releases differently; its v3.x is not Calico's.
  const enterprise = image.repository.endsWith('/cnx-node')
  const version = image.tag === undefined || enterprise ? undefined : parseCalicoVersion(image.tag)
  if (version === undefined) {
    warnings.push(
      `cannot read a Calico version from image ${printable(image.reference)}; defaults for current Calico are assumed, ` +
        'so check the findings against the Calico release actually running',
    )
  }
  return version
}

// ---------------------------------------------------------------------------
// CNI config template

function cniConfigOf(
  kind: CalicoInstallKind,
  namespace: string,
  installCni: V1Container | undefined,
  configMaps: readonly V1ConfigMap[],
  warnings: string[],
): CniConfigSource {
  const env = installCni === undefined ? undefined : envVar(installCni, 'CNI_NETWORK_CONFIG')
  if (env?.value !== undefined) return { text: env.value }
  const ref = env?.valueFrom?.configMapKeyRef
  const configMap: ConfigMapKey = ref?.name !== undefined && ref.key !== undefined ? { name: ref.name, key: ref.key } : DEFAULT_CONFIG_SOURCES[kind]
  const text = findByName(configMaps, namespace, configMap.name)?.data?.[configMap.key]
  if (text === undefined && kind === CalicoInstallKind.manifest) {
    warnings.push(
      `ConfigMap ${namespace}/${configMap.name} (key ${configMap.key}) is missing, and install-cni reads the CNI config from it; ` +
        'calico-node pods cannot start until it is restored from the Calico manifest of this version',
    )
  }
  return text === undefined ? { configMap } : { configMap, text }
}

function expectedConfigOf(
  namespace: string,
  cniConfig: CniConfigSource,
  installCni: V1Container | undefined,
  version: CalicoVersion | undefined,
  warnings: string[],
): ExpectedCniConfig {
  const fromConfig = cniConfig.text === undefined ? undefined : readTemplate(namespace, cniConfig, warnings)
  const format =
    fromConfig?.format ??
    (version === undefined ? CniConfigFormat.conflist : versionAtLeast(version, 3, 1) ? CniConfigFormat.conflist : CniConfigFormat.conf)
  const embedsToken = fromConfig?.embedsToken ?? (version !== undefined && !versionAtLeast(version, 3, 1))
  const basis = fromConfig !== undefined ? ExpectationBasis.config : version !== undefined ? ExpectationBasis.version : ExpectationBasis.default
  const confName = installCni === undefined ? undefined : envVar(installCni, 'CNI_CONF_NAME')?.value
  const installerDefault =
    version === undefined
      ? format === CniConfigFormat.conf
        ? '10-calico.conf'
        : '10-calico.conflist'
      : versionAtLeast(version, 3, 16)
        ? '10-calico.conflist'
        : '10-calico.conf'
  return { format, fileName: confName ?? installerDefault, embedsToken, basis }
}

function readTemplate(namespace: string, cniConfig: CniConfigSource, warnings: string[]): { format: CniConfigFormat; embedsToken: boolean } | undefined {
  const source =
    cniConfig.configMap === undefined
      ? `the CNI_NETWORK_CONFIG env of install-cni in DaemonSet ${namespace}/${CALICO_NODE}`
      : `ConfigMap ${namespace}/${cniConfig.configMap.name} key ${cniConfig.configMap.key}`
  try {
    const config = parseCniConfig(cniConfig.text ?? '', source)
    for (const field of config.tokenFields.filter((candidate) => candidate.kind === TokenValueKind.literal)) {
      warnings.push(
        `${source} holds a literal token at ${field.path} instead of __SERVICEACCOUNT_TOKEN__: every calico-node restart writes that token back to the nodes; ` +
          `put the placeholder back in its place, then restart calico-node (kubectl -n ${namespace} rollout restart ds/${CALICO_NODE})`,
      )
    }
    return { format: config.format, embedsToken: config.tokenFields.length > 0 }
  } catch (err) {
    if (!(err instanceof CniConfigError)) throw err
    warnings.push(err.message)
    return undefined
  }
}

// ---------------------------------------------------------------------------
// The CNI plugin's ServiceAccount

function cniServiceAccountOf(
  namespace: string,
  daemonSet: V1DaemonSet,
  containers: readonly V1Container[],
  version: CalicoVersion | undefined,
  serviceAccounts: readonly V1ServiceAccount[],
  warnings: string[],
): { name: string; basis: CniServiceAccountBasis } {
  const podAccount = daemonSet.spec?.template?.spec?.serviceAccountName ?? daemonSet.spec?.template?.spec?.serviceAccount ?? CALICO_NODE_ACCOUNT
  const override = containers.map((container) => envVar(container, 'CALICO_CNI_SERVICE_ACCOUNT')?.value).find((value) => value !== undefined && value !== '')
  const pluginAccountExists = findByName(serviceAccounts, namespace, CNI_PLUGIN_ACCOUNT) !== undefined
  if (override !== undefined && (version === undefined || versionAtLeast(version, 3, 24))) {
    return { name: override, basis: CniServiceAccountBasis.env }
  }
  if (version === undefined) {
    return pluginAccountExists
      ? { name: CNI_PLUGIN_ACCOUNT, basis: CniServiceAccountBasis.serviceAccount }
      : { name: podAccount, basis: CniServiceAccountBasis.daemonSet }
  }
  if (versionAtLeast(version, 3, 26)) {
    if (!pluginAccountExists) {
      warnings.push(
        `calico/node ${version.text} requests CNI tokens for ServiceAccount ${namespace}/${CNI_PLUGIN_ACCOUNT}, which does not exist, so install-cni cannot get a token; ` +
          'apply the Calico manifest of this version again to restore it',
      )
    }
    return { name: CNI_PLUGIN_ACCOUNT, basis: CniServiceAccountBasis.version }
  }
  if (versionAtLeast(version, 3, 24)) return { name: CALICO_NODE_ACCOUNT, basis: CniServiceAccountBasis.version }
  return { name: podAccount, basis: CniServiceAccountBasis.daemonSet }
}

// ---------------------------------------------------------------------------

function cniNetDirOf(daemonSet: V1DaemonSet, installCni: V1Container | undefined): string {
  const volume = daemonSet.spec?.template?.spec?.volumes?.find((candidate) => candidate.name === 'cni-net-dir')
  return volume?.hostPath?.path ?? (installCni === undefined ? undefined : envVar(installCni, 'CNI_NET_DIR')?.value) ?? DEFAULT_CNI_NET_DIR
}

function envVar(container: V1Container, name: string): NonNullable<V1Container['env']>[number] | undefined {
  return container.env?.find((variable) => variable.name === name)
}

function findByName<T extends { metadata?: { name?: string; namespace?: string } }>(objects: readonly T[], namespace: string, name: string): T | undefined {
  return objects.find((object) => object.metadata?.namespace === namespace && object.metadata.name === name)
}
