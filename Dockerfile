# pgdr worker and API image (also used to generate the compose stack's TLS certificates).
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 postgresql-15 pgbackrest zstd openssl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/pgdr
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts || npm ci --ignore-scripts
COPY . .
ENV NODE_ENV=production
CMD ["node_modules/.bin/tsx", "worker/main.ts"]
