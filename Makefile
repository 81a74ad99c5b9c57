# kube-token-runbooks: a table of contents. Every target runs from a fresh
# clone; node_modules comes from package-lock.json. Pass runbook flags with
# ARGS, e.g. make verify-token ARGS="--secret kube-system/my-token".

# Node 24 LTS, pinned in .node-version: tools/node.sh brings it from the npm
# registry into ~/.cache/kube-token-runbooks/node/<version> when the machine's
# Node is older, and every target below runs on it.
NODE_BIN := $(shell tools/node.sh)
ifeq ($(NODE_BIN),)
$(error tools/node.sh could not provide Node $(shell cat .node-version); see its message above)
endif
export PATH := $(NODE_BIN):$(PATH):/usr/local/go/bin
RUNBOOKS := verify-token regenerate-tokens restart-dependent-pods fix-calico rotate-tokens
.PHONY: demo docs test check unit e2e cluster-up cluster-down cluster-rotate-key bench bench-startup bench-cluster $(RUNBOOKS)

# --- setup -------------------------------------------------------------------
node_modules/.package-lock.json: package-lock.json   # install exactly the lockfile
	npm ci --no-audit --no-fund

# --- the main job, on the local cluster -----------------------------------------
demo: node_modules/.package-lock.json                # broken cluster -> rotate-tokens --yes -> proof
	@node test/demo/run.ts

# --- docs and measurements -----------------------------------------------------
docs: node_modules/.package-lock.json                # regenerate runbooks/rotate-tokens.md from the steps
	@node test/docs/generate.ts
bench: node_modules/.package-lock.json               # pure core at 10k token Secrets / 30k pods (~2 min), then bench-startup
	@node --expose-gc test/bench/run-all.ts
	@node test/bench/startup.ts
bench-startup: node_modules/.package-lock.json       # start-up time + peak RSS of whole runbook processes; online rows with KUBECONFIG=...
	@node test/bench/startup.ts $(ARGS)
bench-cluster: node_modules/.package-lock.json       # rotate-tokens on its own local cluster vs floor and kubectl; ARGS="--secrets N --pods M"
	@node test/bench/cluster.ts $(ARGS)

# --- tests -------------------------------------------------------------------
test: check e2e                                      # everything CI runs
check: node_modules/.package-lock.json               # typecheck + lint + unit tests
	npm run check
unit: node_modules/.package-lock.json                # unit tests only
	npm run test:unit
e2e: node_modules/.package-lock.json                 # e2e suite; starts (and stops) its own cluster
	npm run test:e2e

# --- the local cluster (control plane from Go modules, kwok nodes, a real node) --
# KTR_REAL_NODE=0 leaves out the real node (kubelet + containerd), =1 requires it.
cluster-up: node_modules/.package-lock.json          # start or reuse; last stdout line = kubeconfig
	@node test/cluster/cli.ts up
cluster-rotate-key: node_modules/.package-lock.json  # new SA signing key; KEEP_OLD=1 keeps the old one trusted
	@node test/cluster/cli.ts rotate-key
cluster-down: node_modules/.package-lock.json        # stop every process of the local cluster
	@node test/cluster/cli.ts down

# --- runbooks ------------------------------------------------------------------
# From the bundle, as the npm package ships them (dist/, rebuilt when a source
# changed): it starts at half the memory of the sources. With the node flags of
# the runbooks' shebang (V8's heap sized for big clusters: README, "Memory").
RUNBOOK_NODE_FLAGS := $(shell sed -n '1s/^\#!.* -S node//p' runbooks/rotate-tokens.ts)
dist/.built: node_modules/.package-lock.json tools/build.ts $(wildcard runbooks/*.ts lib/*.ts lib/*/*.ts)
	@node tools/build.ts && touch $@
$(RUNBOOKS): dist/.built                             # make <runbook> ARGS="..."
	@node $(RUNBOOK_NODE_FLAGS) dist/$@.js $(ARGS)
