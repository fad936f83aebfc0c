# syntax=docker/dockerfile:1
#
# The image of one vidstream service (or of the topic operator): a static Go
# binary on distroless, running as a non-root user.
#
#   docker build --build-arg SERVICE=user \
#     --build-arg VERSION=v0.1.0 --build-arg COMMIT="$(git rev-parse HEAD)" \
#     -t vidstream/user .
#
# skaffold.yaml builds vidstream/user, vidstream/video,
# vidstream/watch-history and vidstream/topic-operator (SERVICE=topic-operator)
# from it. The build stage runs
# hack/build-service.sh, which CI runs too (`make k8s-check`).

ARG GO_IMAGE=golang:1.26

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
# The image's Go builds the module: no toolchain download during a build.
ENV GOTOOLCHAIN=local GOFLAGS=-mod=readonly
# The dependencies alone first: this layer and the module cache survive any
# change that leaves go.mod and go.sum alone.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=bind,source=go.mod,target=go.mod \
    --mount=type=bind,source=go.sum,target=go.sum \
    go mod download
ARG SERVICE
ARG VERSION=""
ARG COMMIT=""
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=bind,target=. \
    GOOS="$TARGETOS" GOARCH="$TARGETARCH" VERSION="$VERSION" COMMIT="$COMMIT" \
    sh hack/build-service.sh "$SERVICE" /out/service

FROM gcr.io/distroless/static-debian12:nonroot
ARG SERVICE
ARG VERSION=""
ARG COMMIT=""
LABEL org.opencontainers.image.title="vidstream-${SERVICE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.source="https://github.com/vidstream/vidstream"
COPY --from=build /out/service /service
# Every interface inside the container, on the ports Kubernetes uses. With
# no DATABASE_URL, `docker run` keeps a SQLite file in the home folder.
ENV HTTP_ADDR=:8080 GRPC_ADDR=:9090
WORKDIR /home/nonroot
EXPOSE 8080 9090
# Numeric, so that Kubernetes can verify runAsNonRoot.
USER 65532:65532
ENTRYPOINT ["/service"]
