# The pgrehearse image: one static binary, CA certificates for TLS to the
# target and to AWS, nothing else (no shell, no libc, no package manager).
#
#   docker build --build-arg VERSION=$(git describe --always) -t REGISTRY/pgrehearse:VERSION .
#   docker push REGISTRY/pgrehearse:VERSION
#
# Only the builder stage needs an image from a registry; the final stage
# starts from scratch.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/pgrehearse ./cmd/pgrehearse \
 && mkdir -p /out/tmp && chmod 1777 /out/tmp

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# Spill files of stalled sessions go to the temp directory; the Job mounts
# an emptyDir over it, a plain docker run uses this one.
COPY --from=build /out/tmp /tmp
COPY --from=build /out/pgrehearse /pgrehearse
# A numeric user: Kubernetes' runAsNonRoot can check it without /etc/passwd.
USER 65532:65532
ENTRYPOINT ["/pgrehearse"]
