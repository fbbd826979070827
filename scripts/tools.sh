#!/usr/bin/env bash
# Installs the command-line tools the test suites use that are not npm packages, from this
# machine's package registries, cached between runs:
#   - kcat (Debian package): a real Kafka client nobody here wrote, for the intake e2e;
#   - the docker compose CLI plugin (Go module proxy), to validate docker-compose.yml offline
#     (`docker compose config` needs no daemon);
#   - kubectl must already be installed (it renders the k8s manifests offline).
set -euo pipefail
CACHE="${FLOTILLA_CACHE_DIR:-$HOME/.cache/flotilla}"
COMPOSE_VERSION="${COMPOSE_VERSION:-v2.40.3}"
mkdir -p "$CACHE/bin"

need_root() { [ "$(id -u)" = 0 ] || { echo "tools.sh: root is needed to apt-get install $1" >&2; exit 2; }; }

if ! command -v kcat >/dev/null 2>&1; then
  need_root kcat
  echo "tools: installing kcat (Debian)"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null
fi

if ! docker compose version >/dev/null 2>&1; then
  command -v go >/dev/null 2>&1 || { echo "tools.sh: Go is required to build the docker compose plugin (install golang)" >&2; exit 2; }
  bin="$CACHE/bin/docker-compose-$COMPOSE_VERSION"
  if [ ! -x "$bin" ]; then
    echo "tools: building docker compose $COMPOSE_VERSION from the Go module proxy (first time only, a few minutes)"
    tmp=$(mktemp -d)
    GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/docker/compose/v2/cmd@$COMPOSE_VERSION"
    mv "$tmp/cmd" "$bin"
    rm -rf "$tmp"
  fi
  mkdir -p "$HOME/.docker/cli-plugins"
  cp "$bin" "$HOME/.docker/cli-plugins/docker-compose"
fi

command -v kubectl >/dev/null 2>&1 || { echo "tools.sh: kubectl is required to render k8s/ (install kubectl)" >&2; exit 2; }
echo "tools: kcat $(kcat -V 2>/dev/null | head -1 | awk '{print $2}'), $(docker compose version --short 2>/dev/null | sed 's/^/compose /'), kubectl $(kubectl version --client -o json 2>/dev/null | grep -m1 gitVersion | tr -d ' ",' | cut -d: -f2)"
