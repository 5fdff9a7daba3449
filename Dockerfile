# The project's Node services (monoliths, migrations, cdc CLI, the extracted messaging service, the proxy) for docker-compose.yml.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY common/package.json common/
COPY stack/package.json stack/
COPY migrations/package.json migrations/
COPY monolith/package.json monolith/
COPY cdc/package.json cdc/
COPY ownership/package.json ownership/
COPY project/package.json project/
COPY backsync/package.json backsync/
COPY strangler-proxy/package.json strangler-proxy/
COPY observability/package.json observability/
COPY contracts/package.json contracts/
COPY extracted/messaging/package.json extracted/messaging/
COPY extracted/notifications/package.json extracted/notifications/
COPY cli/package.json cli/
COPY e2e/package.json e2e/
RUN npm ci --no-audit --no-fund
COPY . .
USER node
