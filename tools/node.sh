#!/usr/bin/env bash
# Prints the directory of the pinned Node.js, installing it first if needed.
#
# The project runs on Node 24 LTS. Machines that ship an older Node (or none)
# get the exact version pinned in .node-version from the npm registry: the
# `node-linux-<arch>` package ships the official binary, npm checks its
# integrity, and it lands in a version-keyed cache. No download site is used.
#
#   PATH="$(tools/node.sh):$PATH"     # what the Makefile and .ci/run do
#
# KTR_NODE=/path/to/node uses that binary instead (it must be Node >= 22.19).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(tr -d ' \nv' < "$root/.node-version")

if [[ -n ${KTR_NODE:-} ]]; then dirname "$KTR_NODE"; exit 0; fi

case $(uname -m) in
  x86_64) arch=x64 ;; aarch64) arch=arm64 ;;
  *) echo "tools/node.sh: no node-linux package for $(uname -m); set KTR_NODE=/path/to/node (>= 22.19)" >&2; exit 2 ;;
esac
cache=${XDG_CACHE_HOME:-$HOME/.cache}/kube-token-runbooks/node/v$version
if [[ -x $cache/bin/node ]] && [[ $("$cache/bin/node" --version) == "v$version" ]]; then
  echo "$cache/bin"; exit 0
fi

command -v npm >/dev/null || { echo "tools/node.sh: npm is needed once to fetch Node $version from the npm registry" >&2; exit 2; }
echo "tools/node.sh: installing Node $version (node-linux-$arch from the npm registry) into $cache" >&2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ktr-node.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
# npm pack verifies the tarball against the registry's integrity hash.
(cd "$tmp" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
tar -xzf "$tmp"/node-linux-"$arch"-"$version".tgz -C "$tmp" package/bin/node package/LICENSE
mkdir -p "$cache/bin"
mv "$tmp/package/LICENSE" "$cache/LICENSE"
mv "$tmp/package/bin/node" "$cache/bin/node.partial" && mv "$cache/bin/node.partial" "$cache/bin/node"
[[ $("$cache/bin/node" --version) == "v$version" ]] || { echo "tools/node.sh: installed node does not report v$version" >&2; exit 1; }
echo "$cache/bin"
