#!/usr/bin/env bash
# Builds a Kubernetes control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler), etcd and kwok from Go modules into a version-keyed cache.
# No container registry or download site is needed: only the Go module proxy.
#
#   build-binaries.sh <out-dir> <k8s-version> <etcd-version> <kwok-version> \
#     [<containerd-version> <runc-version> <cni-plugins-version> <cri-tools-version>]
#
# With the four node versions it also builds what a real node needs: kubelet
# (same modules as the control plane), containerd 2.x with its runc shim, ctr,
# runc, crictl, the standard CNI plugins into <out-dir>/cni, and the two images
# the real node runs (pause and probe, OCI archives in <out-dir>/images) from
# test/cluster/images.
#
# Idempotent: a binary already in <out-dir> that reports the wanted version is
# kept. Each component builds in a throw-away module, because the kubernetes
# go.mod replaces its staging modules with local paths (so `go install` fails).
set -euo pipefail

OUT=${1:?out dir}; K8S=${2:?k8s version}; ETCD=${3:?etcd version}; KWOK=${4:?kwok version}
CONTAINERD=${5:-}; RUNC=${6:-}; CNI=${7:-}; CRITOOLS=${8:-}
HERE=$(cd "$(dirname "$0")" && pwd)
export GOTOOLCHAIN=${GOTOOLCHAIN:-local} CGO_ENABLED=0 GOFLAGS=-mod=mod
mkdir -p "$OUT"
log() { echo "build-binaries: $*" >&2; }

has_version() { # <binary> <expected substring> <version args...>
  local bin=$1 want=$2 out; shift 2
  [[ -x "$OUT/$bin" ]] || return 1
  # Not a pipe into grep -q: under pipefail, the binary's SIGPIPE (grep exits
  # at the first match) would fail the check now and then and force a rebuild.
  out=$("$OUT/$bin" "$@" 2>&1) || true
  grep -qF -- "$want" <<<"$out"
}

# Makes a fresh module in a temp dir that requires <module>@<version>.
new_wrapper() { # <module> <version>
  local dir; dir=$(mktemp -d "${TMPDIR:-/tmp}/ktr-build.XXXXXX")
  (cd "$dir" && go mod init local/ktrbuild >/dev/null 2>&1)
  echo "$dir"
}

# Pins every module the upstream go.mod replaces with ./staging/... to the
# matching published tag, and copies its go and godebug directives.
pin_like_upstream() { # <wrapper dir> <module> <version> <staging version>
  local dir=$1 mod=$2 ver=$3 sv=$4 gomod
  gomod=$(cd "$dir" && go mod download -json "$mod@$ver" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  (cd "$dir"
    go mod edit -go="$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$gomod" | head -n1)" -require="$mod@$ver"
    local godebug; godebug=$(sed -n 's/^godebug \(.*\)/\1/p' "$gomod" | head -n1)
    [[ -n $godebug ]] && go mod edit -godebug="$godebug"
    [[ -n $sv ]] && for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*|\1|p' "$gomod"); do
      go mod edit -replace="$m=$m@$sv"
    done
    true)
}

build_kubernetes() {
  local bins=(kube-apiserver kube-controller-manager kube-scheduler) missing=()
  [[ -n $CONTAINERD ]] && bins+=(kubelet)
  for b in "${bins[@]}"; do has_version "$b" "$K8S" --version || missing+=("$b"); done
  ((${#missing[@]})) || { log "kubernetes $K8S: cached"; return; }
  log "kubernetes $K8S: building ${missing[*]} (the first build takes a while)"
  local minor=${K8S#v1.}; minor=${minor%%.*}
  local dir pkgs=() ld="-s -w"
  dir=$(new_wrapper)
  pin_like_upstream "$dir" k8s.io/kubernetes "$K8S" "v0.${K8S#v1.}"
  for b in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  (cd "$dir" && go get "${pkgs[@]/%/@$K8S}" >/dev/null && go build -trimpath -ldflags "$ld" -o "$OUT/" "${pkgs[@]}")
  rm -rf "$dir"
}

build_etcd() {
  has_version etcd "${ETCD#v}" --version && { log "etcd $ETCD: cached"; return; }
  log "etcd $ETCD: building"
  local dir; dir=$(new_wrapper)
  pin_like_upstream "$dir" go.etcd.io/etcd/server/v3 "$ETCD" ""
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@$ETCD" >/dev/null && go build -trimpath -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$dir"
}

# kwok deletes a terminating pod by name alone, from a delay queue. Under load
# that delete lands on the pod that has meanwhile replaced it under the same
# name (a StatefulSet's next pod, a re-created bare pod); that pod's deletion
# queues the next delete, and so on: at 1,500 pods every StatefulSet rollout
# churned for good (14,500 pods created), and the scheduler's cache broke on a
# same-name re-create (CLUSTER.md). So kwok is built from its module source
# with the pod's UID as a precondition of that delete; a 404 or 409 then means
# the pod it meant is gone already, which is what the stage wanted.
patch_kwok() { # <module copy>
  local file=$1/pkg/kwok/controllers/pod_controller.go src
  local call=$'err := c.typedClient.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, deleteOpt)\n\tif err != nil {'
  local guarded=$'opt := deleteOpt\n\topt.Preconditions = metav1.NewUIDPreconditions(string(pod.UID))\n\terr := c.typedClient.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, opt)\n\tif apierrors.IsNotFound(err) || apierrors.IsConflict(err) {\n\t\treturn nil\n\t}\n\tif err != nil {'
  local import=$'\t"k8s.io/apimachinery/pkg/api/meta"\n'
  src=$(<"$file")
  if [[ $src != *"$call"* || $src != *"$import"* ]]; then
    log "kwok's pod delete is not where $file had it: update patch_kwok"; return 1
  fi
  src=${src/"$call"/"$guarded"}
  src=${src/"$import"/$'\tapierrors "k8s.io/apimachinery/pkg/api/errors"\n'"$import"}
  printf '%s\n' "$src" >"$file"
}

build_kwok() {
  # $KWOK is the module version plus this build's label (v0.8.0+ktr.uid-delete).
  if has_version kwok "${KWOK#v}" --version && [[ -d $OUT/kwok-stages ]]; then log "kwok $KWOK: cached"; return; fi
  log "kwok $KWOK: building"
  local src; src=$(go mod download -json "sigs.k8s.io/kwok@${KWOK%%+*}" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
  local dir; dir=$(mktemp -d)
  cp -r "$src/." "$dir"; chmod -R u+w "$dir"
  patch_kwok "$dir"
  (cd "$dir" && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK" -o "$OUT/kwok" ./cmd/kwok)
  rm -rf "$dir"
  # kwok's fast stages live in its module source; keep a copy beside the binary.
  # Nodes: initialise Ready and keep their Lease fresh; pods: become Running fast.
  rm -rf "$OUT/kwok-stages"; mkdir -p "$OUT/kwok-stages"
  local stage f
  for stage in node/fast node/heartbeat-with-lease pod/fast; do
    for f in "$src/kustomize/stage/$stage"/*.yaml; do
      [[ $(basename "$f") == kustomization.yaml ]] || cp "$f" "$OUT/kwok-stages/"
    done
  done
  chmod -R u+w "$OUT/kwok-stages"
}

# --- the real node --------------------------------------------------------------

build_runc() {
  # The kubelet asks for the RuntimeDefault seccomp profile on every pod
  # sandbox, so runc needs seccomp support: cgo with libseccomp.
  has_version runc "${RUNC#v}" --version && has_version runc libseccomp --version && { log "runc $RUNC: cached"; return; }
  if ! pkg-config --exists libseccomp 2>/dev/null; then
    log "runc $RUNC needs libseccomp to build: apt-get install libseccomp-dev pkg-config (.ci/run does)"
    return 1
  fi
  log "runc $RUNC: building (with seccomp)"
  local dir; dir=$(new_wrapper)
  (cd "$dir" && go get "github.com/opencontainers/runc@$RUNC" >/dev/null &&
    CGO_ENABLED=1 go build -trimpath -tags seccomp -ldflags "-s -w -X main.version=${RUNC#v}" -o "$OUT/runc" github.com/opencontainers/runc)
  rm -rf "$dir"
}

build_containerd() {
  local bins=(containerd containerd-shim-runc-v2 ctr) missing=() b
  for b in "${bins[@]}"; do has_version "$b" "$CONTAINERD" --version || missing+=("$b"); done
  ((${#missing[@]})) || { log "containerd $CONTAINERD: cached"; return; }
  log "containerd $CONTAINERD: building ${missing[*]}"
  local dir pkgs=(); dir=$(new_wrapper)
  for b in "${missing[@]}"; do pkgs+=("github.com/containerd/containerd/v2/cmd/$b"); done
  pin_like_upstream "$dir" github.com/containerd/containerd/v2 "$CONTAINERD" ""
  (cd "$dir" && go get "${pkgs[@]/%/@$CONTAINERD}" >/dev/null &&
    go build -trimpath -tags "no_btrfs no_devmapper no_zfs no_aufs" \
      -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD" -o "$OUT/" "${pkgs[@]}")
  rm -rf "$dir"
}

build_cni() {
  local plugins=(bridge host-local loopback) missing=() p
  for p in "${plugins[@]}"; do has_version "cni/$p" "$CNI" || missing+=("$p"); done
  ((${#missing[@]})) || { log "CNI plugins $CNI: cached"; return; }
  log "CNI plugins $CNI: building ${missing[*]}"
  mkdir -p "$OUT/cni"
  local pkgs=()
  for p in "${missing[@]}"; do
    case $p in host-local) pkgs+=("github.com/containernetworking/plugins/plugins/ipam/$p@$CNI") ;;
      *) pkgs+=("github.com/containernetworking/plugins/plugins/main/$p@$CNI") ;; esac
  done
  GOBIN="$OUT/cni" go install -trimpath \
    -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI" "${pkgs[@]}"
}

build_crictl() {
  has_version crictl "$CRITOOLS" --version && { log "crictl $CRITOOLS: cached"; return; }
  log "crictl $CRITOOLS: building"
  local dir; dir=$(new_wrapper)
  pin_like_upstream "$dir" sigs.k8s.io/cri-tools "$CRITOOLS" ""
  (cd "$dir" && go get "sigs.k8s.io/cri-tools/cmd/crictl@$CRITOOLS" >/dev/null &&
    go build -trimpath -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRITOOLS" -o "$OUT/crictl" sigs.k8s.io/cri-tools/cmd/crictl)
  rm -rf "$dir"
}

# Images without a registry: docker-archive tars (one layer each) that
# `ctr images import` reads. Rebuilt when their source is newer.
build_images() {
  local src=$HERE/images img=$OUT/images
  mkdir -p "$img"
  if [[ -f $img/probe.tar && $img/probe.tar -nt $src/probe/main.go && $img/probe.tar -nt $src/make-image.sh ]]; then
    log "images: cached"; return
  fi
  log "images: building pause and probe"
  local work; work=$(mktemp -d "${TMPDIR:-/tmp}/ktr-images.XXXXXX")
  (cd "$src/probe" && go build -trimpath -ldflags "-s -w" -o "$work/ktr-probe" ./main.go)
  mkdir -p "$work/pause/bin" "$work/probe/bin" "$work/probe/etc" "$work/probe/tmp"
  cp "$work/ktr-probe" "$work/pause/bin/ktr-probe"
  cp "$work/ktr-probe" "$work/probe/bin/ktr-probe"
  # A shell and the usual tools, when Debian's busybox-static is installed.
  if [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1; then
    cp /bin/busybox "$work/probe/bin/busybox"
    local applet; for applet in sh ls cat sleep wget env echo grep; do ln -sf busybox "$work/probe/bin/$applet"; done
  else
    log "images: /bin/busybox (static) not found, the probe image has no shell (apt-get install busybox-static)"
  fi
  echo 'root:x:0:0:root:/:/bin/sh' >"$work/probe/etc/passwd"
  bash "$src/make-image.sh" "$work/pause" localhost/ktr/pause:1 '["/bin/ktr-probe","pause"]' "$img/pause.tar"
  bash "$src/make-image.sh" "$work/probe" localhost/ktr/probe:1 '["/bin/ktr-probe"]' "$img/probe.tar"
  rm -rf "$work"
}

build_etcd
build_kwok
build_kubernetes
if [[ -n $CONTAINERD ]]; then
  build_runc
  build_cni
  build_containerd
  build_crictl
  build_images
fi
log "done: $OUT"
