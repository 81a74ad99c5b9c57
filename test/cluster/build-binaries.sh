#!/usr/bin/env bash
# Builds a Kubernetes control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler), etcd and kwok from Go modules into a version-keyed cache.
# No container registry or download site is needed: only the Go module proxy.
#
#   build-binaries.sh <out-dir> <k8s-version> <etcd-version> <kwok-version>
#
# Idempotent: a binary already in <out-dir> that reports the wanted version is
# kept. Each component builds in a throw-away module, because the kubernetes
# go.mod replaces its staging modules with local paths (so `go install` fails).
set -euo pipefail

OUT=${1:?out dir}; K8S=${2:?k8s version}; ETCD=${3:?etcd version}; KWOK=${4:?kwok version}
export GOTOOLCHAIN=${GOTOOLCHAIN:-local} CGO_ENABLED=0 GOFLAGS=-mod=mod
mkdir -p "$OUT"
log() { echo "build-binaries: $*" >&2; }

has_version() { # <binary> <expected substring> <version args...>
  local bin=$1 want=$2; shift 2
  [[ -x "$OUT/$bin" ]] && "$OUT/$bin" "$@" 2>&1 | grep -qF -- "$want"
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

build_kwok() {
  if has_version kwok "${KWOK#v}" --version && [[ -d $OUT/kwok-stages ]]; then log "kwok $KWOK: cached"; return; fi
  log "kwok $KWOK: building"
  GOBIN="$OUT" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK" "sigs.k8s.io/kwok/cmd/kwok@$KWOK"
  # kwok's fast stages live in its module source; keep a copy beside the binary.
  local src; src=$(go mod download -json "sigs.k8s.io/kwok@$KWOK" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
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

build_etcd
build_kwok
build_kubernetes
log "done: $OUT"
