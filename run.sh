#!/bin/bash
# SPDX-License-Identifier: MIT
# ./run.sh CIPHERDIR MOUNTPOINT [MOUNT OPTIONS...]
#
# One command from a fresh Debian 12 checkout to a mounted volume: install
# the missing build packages (apt-get, as root or through sudo), build,
# create the volume in CIPHERDIR if it has no veilfs.conf (asks for a new
# passphrase twice), then mount it at MOUNTPOINT (asks for the passphrase).
# Options after MOUNTPOINT go to 'veilfs mount' (for example -f or --ro).
# Unmount with: fusermount3 -u MOUNTPOINT
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: ./run.sh CIPHERDIR MOUNTPOINT [MOUNT OPTIONS...]" >&2
	exit 2
fi
cipherdir=$1
mountpoint=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
veilfs=$here/build/veilfs

# shellcheck source=.ci/packages.sh
. "$here/.ci/packages.sh"
veil_pkgs_ensure run.sh build || exit 1

if [ ! -f "$here/build/build.ninja" ]; then
	meson setup "$here/build" "$here"
else
	# tests/run-all.sh builds here with the crash tests' pause points: not for use.
	meson configure "$here/build" -Dtest_hooks=false >/dev/null
fi
ninja -C "$here/build"

if [ ! -e "$cipherdir/veilfs.conf" ]; then
	echo "run.sh: creating a new encrypted volume in $cipherdir" >&2
	"$veilfs" init "$cipherdir"
fi
mkdir -p "$mountpoint"
echo "run.sh: mounting $cipherdir at $mountpoint (unmount with: fusermount3 -u $mountpoint)" >&2
exec "$veilfs" mount "$@" "$cipherdir" "$mountpoint"
