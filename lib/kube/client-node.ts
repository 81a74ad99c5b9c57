// The client-node values the project uses, and nothing else: clients.ts
// imports this module lazily, and naming each export lets a bundler drop the
// rest of client-node (most of its ~1,000 modules are unused models).
export { AppsV1Api, AuthenticationV1Api, AuthorizationV1Api, BatchV1Api, CoreV1Api, Exec, KubeConfig, Observable, PolicyV1Api, setHeaderOptions, VersionApi, Watch } from '@kubernetes/client-node'
