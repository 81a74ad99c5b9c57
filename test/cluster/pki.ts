// The cluster's PKI, made with openssl: a CA, the API server's serving cert,
// client certs per component, and service-account signing key pairs.
// Certificates use P-256 keys (fast to generate); SA keys are RSA like kubeadm's.
import { mkdir, writeFile, readFile } from 'node:fs/promises'
import { createHash, createPublicKey } from 'node:crypto'
import { join } from 'node:path'
import { $ } from 'zx'

const quiet = $({ quiet: true })

export interface CertPair {
  cert: string
  key: string
}

export interface ClusterPki {
  dir: string
  ca: CertPair
  apiserver: CertPair
  /** Serving cert for kube-controller-manager and kube-scheduler on 127.0.0.1. */
  localhostServing: CertPair
  admin: CertPair
  controllerManager: CertPair
  scheduler: CertPair
  apiserverKubeletClient: CertPair
}

export const apiserverSans = [
  'DNS:localhost',
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc',
  'DNS:kubernetes.default.svc.cluster.local',
  'IP:127.0.0.1',
  'IP:10.0.0.1',
]

async function newKey(path: string): Promise<void> {
  await quiet`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ${path}`
}

async function issue(dir: string, name: string, ca: CertPair, subject: string, ext: string): Promise<CertPair> {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }
  const csr = join(dir, `${name}.csr`)
  const extFile = join(dir, `${name}.ext`)
  await newKey(pair.key)
  await writeFile(extFile, ext)
  await quiet`openssl req -new -key ${pair.key} -subj ${subject} -out ${csr}`
  await quiet`openssl x509 -req -in ${csr} -CA ${ca.cert} -CAkey ${ca.key} -CAcreateserial -days 365 -sha256 -extfile ${extFile} -out ${pair.cert}`
  return pair
}

const clientExt = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n'
const servingExt = (sans: string[]) =>
  `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans.join(',')}\n`

export async function createPki(dir: string): Promise<ClusterPki> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') }
  await newKey(ca.key)
  await quiet`openssl req -x509 -new -key ${ca.key} -subj /CN=kube-token-runbooks-ca -days 365 -sha256 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature -out ${ca.cert}`
  // One after another: openssl's -CAcreateserial shares ca.srl, and parallel signing races on it.
  const apiserver = await issue(dir, 'apiserver', ca, '/CN=kube-apiserver', servingExt(apiserverSans))
  const localhostServing = await issue(dir, 'localhost-serving', ca, '/CN=localhost', servingExt(['DNS:localhost', 'IP:127.0.0.1']))
  const admin = await issue(dir, 'admin', ca, '/O=system:masters/CN=kubernetes-admin', clientExt)
  const controllerManager = await issue(dir, 'controller-manager', ca, '/CN=system:kube-controller-manager', clientExt)
  const scheduler = await issue(dir, 'scheduler', ca, '/CN=system:kube-scheduler', clientExt)
  const apiserverKubeletClient = await issue(dir, 'apiserver-kubelet-client', ca, '/O=system:masters/CN=kube-apiserver-kubelet-client', clientExt)
  return { dir, ca, apiserver, localhostServing, admin, controllerManager, scheduler, apiserverKubeletClient }
}

/** Client cert of a kubelet: the Node authorizer knows it by this subject. */
export async function issueNodeCert(pki: ClusterPki, nodeName: string): Promise<CertPair> {
  return issue(pki.dir, `node-${nodeName}`, pki.ca, `/O=system:nodes/CN=system:node:${nodeName}`, clientExt)
}

export interface ServiceAccountKey {
  privateKey: string
  publicKey: string
  /** The key ID Kubernetes puts in tokens: base64url(SHA-256(DER SPKI)). */
  kid: string
}

/** Makes service-account key pair number `generation` (sa-<n>.key / sa-<n>.pub). */
export async function createServiceAccountKey(dir: string, generation: number): Promise<ServiceAccountKey> {
  const privateKey = join(dir, `sa-${generation}.key`)
  const publicKey = join(dir, `sa-${generation}.pub`)
  await quiet`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ${privateKey}`
  await quiet`openssl pkey -in ${privateKey} -pubout -out ${publicKey}`
  return { privateKey, publicKey, kid: await keyIdOfPublicKeyFile(publicKey) }
}

export async function keyIdOfPublicKeyFile(path: string): Promise<string> {
  const der = createPublicKey(await readFile(path)).export({ type: 'spki', format: 'der' })
  return createHash('sha256').update(der).digest('base64url')
}
