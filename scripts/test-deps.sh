#!/usr/bin/env bash
# test-deps.sh installs what the test suite needs on a Debian machine, only
# what is missing, so that `make test` works on a fresh one and costs little
# on a warm one. Run as root (CI runs it as root).
set -euo pipefail

# Debian packages the tests drive: Chromium for the dashboard tests,
# slowhttptest for the slow-client tests (e2e/slowclient_test.go),
# OpenSSH's server and client for the authorized_keys tests
# (internal/sshkeys/sshd_test.go runs a real sshd and logs in with ssh), ip
# and nft for the firewall's network-namespace tests (internal/firewall),
# oathtool to cross-check the TOTP codes (internal/auth/totp), swaks to
# speak real SMTP to the test mail receiver and the relay
# (internal/mailer/smtptest, internal/mail/relay, e2e/mail_test.go) with the
# Perl TLS modules its STARTTLS needs (installed without recommends, swaks
# does not bring them),
# and Docker's engine, docker-compose (v1) and a static busybox for the
# compose driver's tests (internal/runtime/compose: they start dockerd when
# it is not running and import busybox as their image, no registry needed).
APT_PACKAGES=(chromium ca-certificates curl slowhttptest openssh-server openssh-client nftables iproute2 oathtool swaks libnet-ssleay-perl libio-socket-ssl-perl docker.io docker-compose busybox-static)
# Go tools, pinned.
STATICCHECK_VERSION=v0.8.2   # staticcheck 2026.2.2
PEBBLE_VERSION=v2.10.1       # Let's Encrypt's ACME test CA, for the certificate tests
# HTTP/2 conformance suite, for internal/edge/h2lane's TestH2Spec. Its module
# has no /v2 path, hence +incompatible (that is h2spec v2.2.1).
H2SPEC_VERSION=v2.2.1+incompatible
# SeaweedFS (Apache-2.0), a real S3 server for internal/backup/s3store.
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "test-deps: installing ${missing[*]}"
  if [[ $(id -u) != 0 ]]; then
    echo "test-deps: need root to install ${missing[*]} (or install them yourself)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

gobin=$(go env GOPATH)/bin
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "(${STATICCHECK_VERSION#v})"; then
  echo "test-deps: installing staticcheck $STATICCHECK_VERSION"
  go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
if [[ ! -x "$gobin/pebble" ]]; then
  echo "test-deps: installing pebble $PEBBLE_VERSION"
  go install "github.com/letsencrypt/pebble/v2/cmd/pebble@$PEBBLE_VERSION"
fi
if [[ ! -x "$gobin/h2spec" ]]; then
  echo "test-deps: installing h2spec $H2SPEC_VERSION"
  go install "github.com/summerwind/h2spec/cmd/h2spec@$H2SPEC_VERSION"
fi
# weed cannot be installed with `go install pkg@version`: its go.mod has a
# replace directive, which go install refuses outside the main module. So
# the module is downloaded and built as the main module, once: measured
# 18.5 minutes cold on a 2-core machine (20 s with a warm build cache),
# 2.2 GB more module cache, about 2 GB more build cache, a 164 MB binary.
# The version is recorded beside the binary so that a pin change rebuilds it.
if [[ ! -x "$gobin/weed" || "$(cat "$gobin/weed.version" 2>/dev/null)" != "$SEAWEEDFS_VERSION" ]]; then
  echo "test-deps: building SeaweedFS weed $SEAWEEDFS_VERSION (once; takes minutes)"
  weed_src=$(go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  weed_tmp=$(mktemp -d)
  cp -r "$weed_src/." "$weed_tmp"
  chmod -R u+w "$weed_tmp"
  (cd "$weed_tmp" && go build -mod=mod -trimpath -ldflags "-s -w" -o "$gobin/weed.new" ./weed)
  rm -rf "$weed_tmp"
  mv "$gobin/weed.new" "$gobin/weed"
  echo "$SEAWEEDFS_VERSION" > "$gobin/weed.version"
fi
echo "test-deps: ok (chromium $(chromium --version 2>/dev/null | awk '{print $2}'), $("$gobin/staticcheck" -version))"
