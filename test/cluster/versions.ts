// The pinned versions of the local control plane. Override with env vars to
// test another release; binaries are cached per Kubernetes version.
export const versions = {
  kubernetes: process.env.KTR_K8S_VERSION ?? 'v1.36.3',
  etcd: process.env.KTR_ETCD_VERSION ?? 'v3.6.16',
  kwok: process.env.KTR_KWOK_VERSION ?? 'v0.8.0',
} as const
