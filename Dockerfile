# syntax=docker/dockerfile:1
#
# One image for every Flotilla process. The service to run is chosen at run time by SERVICE
# (gateway | coordinator | planner | retriever | tool | validator | sample-business | flotilla),
# which maps to apps/${SERVICE}/dist/main.js. The build arg only sets the default, so
#   docker build -t flotilla/service:latest .
# produces an image usable by every Deployment in k8s/ (each sets SERVICE in its env).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------------
# build: install all dependencies (better-sqlite3 compiles natively), compile, drop dev deps.
# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# node-gyp uses the headers shipped in the node image instead of downloading them, so a
# source build of better-sqlite3 (when no prebuilt binary can be fetched) works offline too.
ENV npm_config_nodedir=/usr/local \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false

# The workspace manifests come with the sources (npm workspaces need every package.json in
# place before `npm ci`); .dockerignore keeps node_modules, dist and local state out.
COPY . .

RUN --mount=type=cache,target=/root/.npm \
    npm ci

RUN npm run build

# Drop devDependencies (nx, jest, swc, typescript, eslint...); the workspace links
# node_modules/@flotilla/* -> libs/*, apps/* stay in place. Sources are kept (small, and any
# asset a service reads relative to its package keeps working).
RUN npm prune --omit=dev \
 && find apps libs -name '*.tsbuildinfo' -delete \
 && rm -rf test

# ---------------------------------------------------------------------------------------------
# runtime: non-root, no compilers, no npm cache.
# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

# tini as PID 1: forwards SIGTERM to node (graceful shutdown on `docker stop` / pod
# termination) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    FLOTILLA_MODE=distributed \
    FLOTILLA_DATA_DIR=/data

WORKDIR /app

COPY --from=build --chown=node:node /app /app

# /data: the retriever's local vector file (mount a volume / emptyDir here);
# /tmp stays writable for a read-only root filesystem via an emptyDir in k8s.
RUN mkdir -p /data && chown node:node /data

# Numeric uid of the image's `node` user, so Kubernetes can verify runAsNonRoot.
USER 1000:1000

# Declared last so that every layer above is shared between the per-service builds.
ARG SERVICE=gateway
ENV SERVICE=${SERVICE}

EXPOSE 8080 8081 8082 8083 8084 8085 8090

# Uses the service's own PORT (set per service by compose / k8s); node:*-slim has no curl.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["sh", "-c", "exec node apps/${SERVICE}/dist/main.js"]
