# Multi-stage build: a static binary on a minimal base.
#   docker build -t rampart .
#   docker run -p 80:80 -p 443:443 -p 127.0.0.1:7070:7070 -v rampart:/var/lib/rampart rampart
# rampart does not manage a host firewall or SSH keys yet; when it does, in a
# container they will act on the container, not the host (run rampart on the
# host with the systemd unit in dist/ for those).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o /out/rampart ./cmd/rampart

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/rampart /usr/local/bin/rampart
ENV RAMPART_DATA=/var/lib/rampart RAMPART_ADMIN_ADDR=0.0.0.0:7070 RAMPART_LOG_FORMAT=json
VOLUME /var/lib/rampart
EXPOSE 80 443 7070
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/rampart"]
CMD ["serve"]
