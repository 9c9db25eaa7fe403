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
# oathtool to cross-check the TOTP codes (internal/auth/totp) and swaks to
# speak real SMTP to the test mail receiver (internal/mailer/smtptest),
# and Docker's engine, docker-compose (v1) and a static busybox for the
# compose driver's tests (internal/runtime/compose: they start dockerd when
# it is not running and import busybox as their image, no registry needed).
APT_PACKAGES=(chromium ca-certificates curl slowhttptest openssh-server openssh-client nftables iproute2 oathtool swaks docker.io docker-compose busybox-static)
# Go tools, pinned.
STATICCHECK_VERSION=v0.8.2   # staticcheck 2026.2.2
PEBBLE_VERSION=v2.10.1       # Let's Encrypt's ACME test CA, for the certificate tests

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
echo "test-deps: ok (chromium $(chromium --version 2>/dev/null | awk '{print $2}'), $("$gobin/staticcheck" -version))"
