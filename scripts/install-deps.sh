#!/bin/sh
# Installs what bpc needs to build, test and train on a fresh Debian machine.
# Usage: scripts/install-deps.sh [PACKAGE...]   (as root, or with sudo available)
# PACKAGEs: more Debian packages to install with them (.ci/run: libopenblas-openmp-dev, for
# the build with -DBPC_OPENBLAS=ON).
set -e
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
PKGS="build-essential cmake flex bison tcc libtcc-dev libcmocka-dev zlib1g-dev \
  clang libclang-rt-14-dev valgrind pkg-config libedit-dev libcjson-dev dataset-fashion-mnist libopenmpi-dev openmpi-bin tmux \
  fortunes fortunes-min $*"
missing=
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends $missing
fi
