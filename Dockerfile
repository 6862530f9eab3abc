# syntax=docker/dockerfile:1
#
# The waterchain node as a container: a static binary on a distroless base,
# run as an unprivileged user, its home a volume.
#
#   docker build -t waterchain --build-arg VERSION=0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) .
#   docker run -d --name waterchain -v /srv/waterchain:/var/lib/waterchain \
#       -p 26656:26656 -p 127.0.0.1:26657:26657 waterchain
#
# The home (/var/lib/waterchain) must be a node home made by "waterchain init"
# or "waterchain testnet --hosts ...", owned by uid 65532, with api.listen on
# 0.0.0.0:26657 or a port the healthcheck is told about (WATERCHAIN_NODE).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=0.1.0
ARG COMMIT=""
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/waterchain/waterchain/node.Version=${VERSION} -X github.com/waterchain/waterchain/node.Commit=${COMMIT}" \
      -o /out/waterchain ./cmd/waterchain \
 && mkdir -p /out/home && /out/waterchain version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/waterchain /usr/local/bin/waterchain
COPY --from=build --chown=65532:65532 /out/home /var/lib/waterchain
USER 65532:65532
VOLUME ["/var/lib/waterchain"]
# p2p, API and dashboard, MQTT (when enabled in config.toml)
EXPOSE 26656 26657 26658
ENV WATERCHAIN_NODE=http://127.0.0.1:26657
# "waterchain status" fails unless the node's API answers /v1/status.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/waterchain", "status"]
ENTRYPOINT ["/usr/local/bin/waterchain"]
CMD ["run", "--home", "/var/lib/waterchain"]
