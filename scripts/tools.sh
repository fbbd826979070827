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
    # `go install pkg@version` refuses modules whose go.mod has exclude/replace directives, so the
    # module is fetched from the proxy and built as the main module, with its own go.sum.
    tmp=$(mktemp -d)
    dir=$(GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -n "$dir" ] || { echo "tools.sh: could not download docker compose $COMPOSE_VERSION from the Go module proxy" >&2; exit 1; }
    cp -r "$dir" "$tmp/src" && chmod -R u+w "$tmp/src"
    (cd "$tmp/src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" -o "$tmp/docker-compose" ./cmd)
    mv "$tmp/docker-compose" "$bin"
    rm -rf "$tmp"
  fi
  mkdir -p "$HOME/.docker/cli-plugins"
  cp "$bin" "$HOME/.docker/cli-plugins/docker-compose"
fi

command -v kubectl >/dev/null 2>&1 || { echo "tools.sh: kubectl is required to render k8s/ (install kubectl)" >&2; exit 2; }
echo "tools: kcat $(kcat -V 2>/dev/null | head -1 | awk '{print $2}'), $(docker compose version --short 2>/dev/null | sed 's/^/compose /'), kubectl $(kubectl version --client -o json 2>/dev/null | grep -m1 gitVersion | tr -d ' ",' | cut -d: -f2)"
