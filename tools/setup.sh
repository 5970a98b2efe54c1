#!/usr/bin/env bash
# Installs the Debian 12 packages sipedge needs to build, run and test. Idempotent: runs apt only for what is missing.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config ninja-build git ca-certificates clang-format
  # libraries
  libsofia-sip-ua-dev libboost-dev librocksdb-dev libsrtp2-dev libsodium-dev libtomlplusplus-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libmaxminddb-dev
  # real peers for tests
  # netbase: /etc/protocols and /etc/services, which kamailio needs (getprotobyname)
  netbase sip-tester kamailio libnet-sip-perl procps iproute2 python3
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  # Debian's kamailio package enables a system service; tests start their own instances.
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now kamailio >/dev/null 2>&1 || true; fi
else
  echo "setup: all packages present"
fi
