#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fsck throughput against the cipher ceiling: builds a 1 GiB volume of
# random-content files on a private tmpfs, runs `veilfs speed` and
# `veilfs fsck` several times, and prints per run the wall time, the CPU
# seconds (user + system, from /usr/bin/time), the rate fsck reports, and
# the ratio fsck MB/s / (speed's single-core content-decrypt MB/s x cores).
#
#   bench/fsck.sh                 8 files of 128 MiB, 5 runs
#   bench/fsck.sh --small         16384 files of 64 KiB in 64 directories
#   RUNS=9 bench/fsck.sh          more runs
#   PERF=1 bench/fsck.sh          also `perf record -g` one more fsck run
#                                 (flat profile in bench/out/perf-fsck-LAYOUT.txt)
#   NICE=-20 bench/fsck.sh        run in a session of its own (setsid) whose
#                                 scheduler autogroup gets that nice level, and
#                                 speed and fsck with it: on a shared machine
#                                 they then get nearly whole cores for their
#                                 few seconds each (with autogroups, a process's
#                                 own nice level only counts within its session)
#
# Must run as root (tmpfs and FUSE mount; the volume is filled through a
# mount). Uses build-bench/veilfs (meson --buildtype=release), built when
# missing or older than src/; VEILFS=/path/to/veilfs uses another binary.
# Always unmounts what it mounted, also on failure or Ctrl-C.
# Wall-clock rates are only meaningful on an otherwise idle machine: each
# run prints its %CPU (speed ~100%, fsck ~100% x cores when nothing else
# runs) and the load average. On a busy machine compare CPU seconds: the
# block verification's CPU per GiB (fsck minus fsck --quick) against the
# decryption's (GiB / speed's rate, valid when speed ran at ~100% CPU).
#
# Exit status: 0 when every run succeeded and fsck found the volume clean.
set -u -o pipefail
export LC_ALL=C

if [ "${NICE:-0}" != 0 ] && [ -z "${VEILFS_FSCKBENCH_SESSION:-}" ]; then
	VEILFS_FSCKBENCH_SESSION=1 exec setsid -w "$0" "$@"
fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
layout=large
while [ $# -gt 0 ]; do
	case "$1" in
	--small) layout=small ;;
	--large) layout=large ;;
	-h|--help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"; exit 0 ;;
	*) echo "bench/fsck.sh: unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done
: "${RUNS:=5}" "${PERF:=0}" "${NICE:=0}"
run() { nice -n "$NICE" "$@"; }
if [ "$(id -u)" != 0 ]; then
	echo "bench/fsck.sh: must run as root (tmpfs and FUSE mounts)" >&2
	exit 2
fi

if [ -z "${VEILFS:-}" ]; then
	VEILFS=$repo/build-bench/veilfs
	if [ ! -x "$VEILFS" ] || [ -n "$(find "$repo/src" -newer "$VEILFS" -print -quit)" ]; then
		[ -f "$repo/build-bench/build.ninja" ] ||
			meson setup --buildtype=release "$repo/build-bench" "$repo" >/dev/null || exit 1
		ninja -C "$repo/build-bench" -j2 veilfs >/dev/null || exit 1
	fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/veilfs-fsckbench.XXXXXX")
base=$work/tmpfs
mnt=$work/mnt
mounted_tmpfs=0
mounted_fuse=0
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
	if [ "$mounted_fuse" = 1 ]; then
		"$VEILFS" umount "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null || umount -l "$mnt"
	fi
	if [ "$mounted_tmpfs" = 1 ]; then
		umount "$base" 2>/dev/null || umount -l "$base"
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$base" "$mnt"
mount -t tmpfs -o size=3G,mode=700 veilfs-fsckbench "$base" || exit 1
mounted_tmpfs=1
pass=$work/pass
printf 'veilfs-fsck-bench-passphrase\n' >"$pass"
chmod 600 "$pass"
vol=$base/cipher
mkdir "$vol"
"$VEILFS" init --kdf interactive --no-recovery-key --passfile "$pass" "$vol" >/dev/null || exit 1

echo "filling the volume ($layout layout) ..." >&2
head -c $((128 << 20)) /dev/urandom >"$base/random.src"
"$VEILFS" mount --passfile "$pass" "$vol" "$mnt" || exit 1
mounted_fuse=1
if [ "$layout" = large ]; then
	for i in 0 1 2 3 4 5 6 7; do
		dd if="$base/random.src" of="$mnt/big$i.bin" bs=1M status=none || exit 1
	done
else
	# 16384 files of 64 KiB: 64 directories of 256, each cut from the source.
	python3 - "$base/random.src" "$mnt" <<-'EOF' || exit 1
		import os, sys
		src = open(sys.argv[1], "rb").read()
		for d in range(64):
		    dd = os.path.join(sys.argv[2], "d%02d" % d)
		    os.mkdir(dd)
		    for f in range(256):
		        off = ((d * 256 + f) * 65536) % (len(src) - 65536)
		        with open(os.path.join(dd, "f%03d.dat" % f), "wb") as fh:
		            fh.write(src[off:off + 65536])
	EOF
fi
"$VEILFS" umount "$mnt" || exit 1
mounted_fuse=0
rm -f "$base/random.src"
files=$(find "$vol" -type f -name '*' ! -name 'veilfs.*' | wc -l)
echo "volume: $(du -sh "$vol" | cut -f1) in $files cipher files" >&2

ncpu=$(nproc)
echo "commit: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')  binary: $VEILFS  cores: $ncpu  layout: $layout"
if [ "$NICE" != 0 ] && [ -w /proc/self/autogroup ]; then
	echo "$NICE" >/proc/self/autogroup || echo "bench/fsck.sh: could not set the autogroup's nice level" >&2
fi
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); nice level of the measured commands: $NICE"

speeds=()
for r in $(seq "$RUNS"); do
	out=$( { run /usr/bin/time -f 'TIME %P' "$VEILFS" speed; } 2>&1)
	s=$(printf '%s\n' "$out" | awk '/content decrypt/ { print $(NF-1) }')
	speeds+=("$s")
	# Below ~100% the single-core rate was cut by other processes.
	echo "speed run $r: content decrypt $s MB/s (one core), $(printf '%s\n' "$out" | awk '/^TIME / { print $2 }') CPU, load $(cut -d' ' -f1 /proc/loadavg)"
done
speed_med=$(printf '%s\n' "${speeds[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')

# The passphrase's key derivation and the walk cost CPU in every run: a
# --quick run (headers, sizes and names, no block decrypted) measures them,
# so that the block verification's own CPU can be told.
qcpus=()
for r in $(seq "$RUNS"); do
	out=$( { run /usr/bin/time -f 'TIME %e %U %S %P' "$VEILFS" fsck --quick --passfile "$pass" "$vol" >/dev/null; } 2>&1)
	qcpus+=("$(printf '%s\n' "$out" | awk '/^TIME / { printf "%.2f", $3 + $4 }')")
done
qcpu_med=$(printf '%s\n' "${qcpus[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "fsck --quick (key derivation, walk, headers): ${qcpus[*]} s CPU, median $qcpu_med"

status=0
rates=()
cpus=()
for r in $(seq "$RUNS"); do
	out=$( { run /usr/bin/time -f 'TIME %e %U %S %P' "$VEILFS" fsck --passfile "$pass" "$vol" >"$work/fsck.out"; } 2>&1)
	rc=$?
	read -r wall user sys pct <<<"$(printf '%s\n' "$out" | awk '/^TIME / { print $2, $3, $4, $5 }')"
	rate=$(sed -n 's/.* (\([0-9.]*\) MB\/s).*/\1/p' "$work/fsck.out" | tail -1)
	[ "$rc" = 0 ] || { status=1; echo "fsck exited $rc:"; tail -5 "$work/fsck.out"; }
	cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
	rates+=("$rate")
	cpus+=("$cpu")
	printf 'fsck run %d: %s s wall, %s s user + %s s sys = %s s CPU (%s), reported %s MB/s, ratio %.3f, load %s\n' \
		"$r" "$wall" "$user" "$sys" "$cpu" "$pct" "$rate" \
		"$(awk -v a="$rate" -v b="$speed_med" -v n="$ncpu" 'BEGIN { print a / (b * n) }')" \
		"$(cut -d' ' -f1 /proc/loadavg)"
done
rate_med=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
cpu_med=$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
bytes=$(sed -n 's/.* \([0-9]*\) bytes checked.*/\1/p' "$work/fsck.out" | tail -1)
echo "medians: speed content decrypt $speed_med MB/s per core; fsck $rate_med MB/s, $cpu_med s CPU"
awk -v a="$rate_med" -v b="$speed_med" -v n="$ncpu" -v c="$cpu_med" -v q="$qcpu_med" -v by="$bytes" 'BEGIN {
	gib = by / 1073741824
	printf "fsck / (speed x %d cores) = %.3f (target 0.70)\n", n, a / (b * n)
	printf "CPU per GiB: fsck %.3f s, of which block verification (fsck - fsck --quick) %.3f s; pure decryption at the speed rate %.3f s\n",
		c / gib, (c - q) / gib, 1073741824 / (b * 1e6) }'
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
tail -3 "$work/fsck.out" | sed 's/^/last fsck: /'

if [ "$PERF" = 1 ]; then
	mkdir -p "$here/out"
	perf record -q -g -o "$work/perf.data" "$VEILFS" fsck --passfile "$pass" "$vol" >/dev/null 2>&1
	perf report -i "$work/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
		grep -v '^$' | head -80 >"$here/out/perf-fsck-$layout.txt"
	perf report -i "$work/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null |
		grep -E '^ +[0-9]' | head -30
	echo "flat profile: $here/out/perf-fsck-$layout.txt"
fi
exit "$status"
