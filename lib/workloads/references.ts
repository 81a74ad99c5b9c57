// Every way a pod names a Secret, read from its spec: secret volumes,
// projected volume sources, env[].valueFrom.secretKeyRef, envFrom[].secretRef
// and imagePullSecrets, in init, regular and ephemeral containers alike. A pod
// can only name Secrets of its own namespace, so each reference is keyed
// `<pod namespace>/<secret name>`.
import type { V1Container, V1EphemeralContainer, V1Pod, V1PodSpec } from '@kubernetes/client-node'
import { namespaceOf, objectKey, splitKey } from './keys.ts'

export const ReferenceVia = {
  volume: 'volume',
  projected: 'projected',
  env: 'env',
  envFrom: 'envFrom',
  imagePullSecret: 'imagePullSecret',
} as const
export type ReferenceVia = (typeof ReferenceVia)[keyof typeof ReferenceVia]

export interface SecretReference {
  /** The Secret's name (in the pod's namespace). */
  readonly secret: string
  /** `namespace/name` of the Secret. */
  readonly key: string
  readonly via: ReferenceVia
  /** Where in the spec, for people: `volume token`, `init container setup env TOKEN`, `imagePullSecrets`. */
  readonly detail: string
  /** Marked `optional: true`: the pod starts without the Secret. */
  readonly optional: boolean
}

type ContainerLike = V1Container | V1EphemeralContainer

/** The container lists of a pod spec, each with the word used for it in `detail`. */
function containerGroups(spec: V1PodSpec | undefined): Array<[label: string, containers: readonly ContainerLike[]]> {
  return [
    ['init container', spec?.initContainers ?? []],
    ['container', spec?.containers ?? []],
    ['ephemeral container', spec?.ephemeralContainers ?? []],
  ]
}

/** Every Secret reference in the pod's spec, in spec order: volumes, containers (init, regular, ephemeral), imagePullSecrets. */
export function secretReferencesOf(pod: V1Pod): SecretReference[] {
  const namespace = namespaceOf(pod.metadata)
  const refs: SecretReference[] = []
  const add = (secret: string | undefined, via: ReferenceVia, detail: string, optional: boolean | undefined): void => {
    if (secret) refs.push({ secret, key: objectKey(namespace, secret), via, detail, optional: optional === true })
  }
  const spec = pod.spec
  for (const volume of spec?.volumes ?? []) {
    add(volume.secret?.secretName, ReferenceVia.volume, `volume ${volume.name}`, volume.secret?.optional)
    for (const source of volume.projected?.sources ?? []) {
      add(source.secret?.name, ReferenceVia.projected, `volume ${volume.name}`, source.secret?.optional)
    }
  }
  for (const [label, containers] of containerGroups(spec)) {
    for (const container of containers) {
      for (const env of container.env ?? []) {
        const ref = env.valueFrom?.secretKeyRef
        add(ref?.name, ReferenceVia.env, `${label} ${container.name} env ${env.name}`, ref?.optional)
      }
      for (const from of container.envFrom ?? []) {
        add(from.secretRef?.name, ReferenceVia.envFrom, `${label} ${container.name} envFrom`, from.secretRef?.optional)
      }
    }
  }
  for (const pull of spec?.imagePullSecrets ?? []) add(pull.name, ReferenceVia.imagePullSecret, 'imagePullSecrets', false)
  return refs
}

/**
 * Names of the projected volumes that carry a `serviceAccountToken` source
 * (`kube-api-access-*` and hand-written ones): tokens the kubelet requests and
 * refreshes itself, invisible to the API.
 */
export function boundTokenVolumesOf(pod: V1Pod): string[] {
  return (pod.spec?.volumes ?? [])
    .filter((volume) => (volume.projected?.sources ?? []).some((source) => source.serviceAccountToken !== undefined))
    .map((volume) => volume.name)
}

/**
 * A copy of a pod spec in which every Secret reference listed in `renamed`
 * (`namespace/old` → `namespace/new`, pods of `namespace`) names the new
 * Secret. Only the Secret names change; volume names and the rest stay.
 */
export function withRenamedSecrets(spec: V1PodSpec, namespace: string, renamed: ReadonlyMap<string, string>): V1PodSpec {
  const copy = structuredClone(spec)
  if (renamed.size === 0) return copy
  const rename = (name: string): string => {
    const to = renamed.get(objectKey(namespace, name))
    return to === undefined ? name : splitKey(to).name
  }
  for (const volume of copy.volumes ?? []) {
    if (volume.secret?.secretName) volume.secret.secretName = rename(volume.secret.secretName)
    for (const source of volume.projected?.sources ?? []) {
      if (source.secret?.name) source.secret.name = rename(source.secret.name)
    }
  }
  for (const [, containers] of containerGroups(copy)) {
    for (const container of containers) {
      for (const env of container.env ?? []) {
        const ref = env.valueFrom?.secretKeyRef
        if (ref?.name) ref.name = rename(ref.name)
      }
      for (const from of container.envFrom ?? []) {
        if (from.secretRef?.name) from.secretRef.name = rename(from.secretRef.name)
      }
    }
  }
  for (const pull of copy.imagePullSecrets ?? []) {
    if (pull.name) pull.name = rename(pull.name)
  }
  return copy
}
