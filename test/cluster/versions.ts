// The pinned versions of the local control plane. Override with env vars to
// test another release; binaries are cached per Kubernetes version.
export const versions = {
  kubernetes: process.env.KTR_K8S_VERSION ?? 'v1.36.3',
  etcd: process.env.KTR_ETCD_VERSION ?? 'v3.6.16',
  kwok: process.env.KTR_KWOK_VERSION ?? 'v0.8.0',
  // The real node (kubelet has the Kubernetes version above).
  containerd: process.env.KTR_CONTAINERD_VERSION ?? 'v2.4.2',
  runc: process.env.KTR_RUNC_VERSION ?? 'v1.5.3',
  cniPlugins: process.env.KTR_CNI_PLUGINS_VERSION ?? 'v1.10.0',
  criTools: process.env.KTR_CRI_TOOLS_VERSION ?? 'v1.37.0',
} as const
