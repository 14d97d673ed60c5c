# syntax=docker/dockerfile:1
# pgdr's images, from one Dockerfile:
#   runtime (default)  pgdr-worker, pgdr-api and the pgdr CLI: the compiled dist/ and production
#                      dependencies only, running as the unprivileged postgres user (uid 999)
#   postgres           PostgreSQL 15 with pgBackRest and pgdr's archive program, so
#                      archive_command/restore_command store WAL in S3 (docker compose's servers)
# Nothing local is copied in: .dockerignore leaves out .pgdr-stack (secrets), node_modules, dist.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY domain/ domain/
COPY config/ config/
COPY adapters/ adapters/
COPY activities/ activities/
COPY workflows/ workflows/
COPY control/ control/
COPY api/ api/
COPY cli/ cli/
COPY worker/ worker/
COPY archive/ archive/
COPY scripts/ scripts/
COPY bin/ bin/
# dist/ plus the two compose one-shots (certificates, bucket), then production dependencies only.
RUN node_modules/.bin/tsx scripts/build.ts \
 && node_modules/.bin/esbuild scripts/certs.ts scripts/create-bucket.ts --bundle --platform=node --format=esm \
      --packages=external --outdir=dist/compose --out-extension:.js=.mjs --log-level=warning \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
# postgres at uid/gid 999, as in the postgres image, so an agent owns the data it restores.
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --create-home --shell /bin/bash postgres \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 postgresql-client-15 pgbackrest zstd openssl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres -m 0755 /certs /var/lib/pgdr /var/tmp/pgdr
WORKDIR /opt/pgdr
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/dist/ dist/
COPY --from=build /src/bin/ bin/
ENV NODE_ENV=production PATH=/opt/pgdr/bin:/usr/lib/postgresql/15/bin:$PATH
USER postgres
# Healthy while Temporal sees this container polling every queue it should serve (worker/health.ts);
# compose gives the API its own check (GET /healthz).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["node", "/opt/pgdr/dist/health.js"]
CMD ["pgdr-worker"]

FROM postgres:15-bookworm AS postgres
RUN apt-get update && apt-get install -y --no-install-recommends pgbackrest zstd && rm -rf /var/lib/apt/lists/*
# The archive program only: Node, the self-contained dist/pgdr-wal.mjs and the launcher.
COPY --from=build /usr/local/bin/node /usr/local/bin/node
COPY --from=build /src/dist/pgdr-wal.mjs /opt/pgdr/dist/pgdr-wal.mjs
COPY --from=build /src/bin/pgdr /opt/pgdr/bin/pgdr
COPY docker/postgres/init-primary.sh /docker-entrypoint-initdb.d/10-pgdr.sh
COPY docker/postgres/replica-entrypoint.sh /usr/local/bin/replica-entrypoint.sh
# Named volumes mounted here start owned by postgres. The server runs as postgres: the official
# entrypoint drops root itself, and the replica service runs as postgres.
RUN install -d -o postgres -g postgres -m 0700 /pgdata/primary /pgdata/replica
