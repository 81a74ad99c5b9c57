// The calico-node test fixture's install-cni (test/fixtures/calico/install-cni-fixture.sh)
// renders byte for byte what Calico's own install-cni.sh rendered from the
// same template (the recorded node/v3.0-kdd files), so fix-calico on the real
// node reads what it would read on a 2018 Calico node. Needs Debian's
// busybox-static, as the real node's probe image does.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { configMapText, fill, nodeDir, readFixture } from '../fixtures/calico/fixtures.ts'

const BUSYBOX = '/bin/busybox'
// A token's shape (three base64url parts); the script never decodes it.
const TOKEN = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6a3ViZS1zeXN0ZW06Y2FsaWNvLW5vZGUifQ.c2lnbmF0dXJl'

describe.skipIf(!existsSync(BUSYBOX))(`install-cni-fixture.sh${existsSync(BUSYBOX) ? '' : ' (not run: no /bin/busybox; apt-get install busybox-static)'}`, () => {
  const roots: string[] = []
  afterAll(async () => {
    for (const root of roots) await rm(root, { recursive: true, force: true })
  })

  it("renders 10-calico.conf and calico-kubeconfig (mode 600) exactly as Calico v3.0's install-cni.sh did", async () => {
    const root = await mkdtemp(join(tmpdir(), 'ktr-install-cni-'))
    roots.push(root)
    const expected = Object.fromEntries(nodeDir('v3.0-kdd').map((f) => [f.name, fill(f.text, TOKEN)]))
    // The recorded kubeconfig carries the CA base64-encoded: give the script that CA as the pod's ca.crt.
    const ca = Buffer.from(/certificate-authority-data: (\S+)/.exec(expected['calico-kubeconfig']!)![1]!, 'base64')
    const sa = join(root, 'var/run/secrets/kubernetes.io/serviceaccount')
    await mkdir(sa, { recursive: true })
    await mkdir(join(root, 'host/etc/cni/net.d'), { recursive: true })
    await writeFile(join(sa, 'token'), TOKEN)
    await writeFile(join(sa, 'ca.crt'), ca)

    const log = execFileSync(BUSYBOX, ['sh', '-c', readFixture('install-cni-fixture.sh'), 'install-cni-fixture'], {
      env: {
        INSTALL_CNI_FIXTURE_ROOT: root,
        CNI_NETWORK_CONFIG: configMapText('manifest-v3.0-kdd.yaml', 'cni_network_config'),
        KUBERNETES_SERVICE_HOST: '10.96.0.1',
        KUBERNETES_SERVICE_PORT: '443',
        KUBERNETES_NODE_NAME: 'worker-1',
      },
      encoding: 'utf8',
    })

    const dir = join(root, 'host/etc/cni/net.d')
    expect(await readFile(join(dir, '10-calico.conf'), 'utf8')).toBe(expected['10-calico.conf'])
    expect(await readFile(join(dir, 'calico-kubeconfig'), 'utf8')).toBe(expected['calico-kubeconfig'])
    expect((await stat(join(dir, 'calico-kubeconfig'))).mode & 0o777).toBe(0o600)
    // Nothing else is left in the directory, and the log shows the config before the token went in.
    expect((execFileSync(BUSYBOX, ['ls', '-A', dir], { encoding: 'utf8' })).split('\n').filter(Boolean)).toEqual(['10-calico.conf', 'calico-kubeconfig'])
    expect(log).toContain('"k8s_auth_token": "__SERVICEACCOUNT_TOKEN__"')
    expect(log).not.toContain(TOKEN)
  })
})
