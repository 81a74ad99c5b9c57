#!/usr/bin/env bash
# Packs a root filesystem directory into a single-layer image archive in the
# docker-archive format (manifest.json + config + layer.tar), which
# `ctr images import` reads. No registry, no Docker.
#
#   make-image.sh <rootfs-dir> <name:tag> <entrypoint JSON array> <out.tar>
set -euo pipefail
ROOTFS=${1:?rootfs}; NAME=${2:?name}; ENTRYPOINT=${3:?entrypoint}; OUT=${4:?out}
work=$(mktemp -d "${TMPDIR:-/tmp}/ktr-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Reproducible layer: fixed owner, mtime and order.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$ROOTFS" -cf "$work/layer.tar" .
diff=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
cat >"$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Entrypoint":$ENTRYPOINT,"Env":["PATH=/bin"],"WorkingDir":"/"},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff"]},"history":[{"created_by":"test/cluster/images/make-image.sh"}]}
JSON
config=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$work/$config.json"
mkdir "$work/$diff" && mv "$work/layer.tar" "$work/$diff/layer.tar"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' "$config" "$NAME" "$diff" >"$work/manifest.json"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work" -cf "$OUT.tmp" manifest.json "$config.json" "$diff"
mv "$OUT.tmp" "$OUT"
