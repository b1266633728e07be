FROM node:20-bookworm
WORKDIR /opt/sluice
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
COPY bin ./bin
COPY src ./src
COPY tsconfig.json ./
ENV NODE_ENV=production
EXPOSE 8080 15432 12222 18080
ENTRYPOINT ["node", "bin/sluice.mjs"]
CMD ["start"]
