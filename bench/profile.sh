#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Profile the veilfs daemon with perf on one workload:
#
#   bench/profile.sh seqwrite|seqread|untar [OUTDIR]
#
# Mounts a fresh volume on a private tmpfs, attaches `perf record -g` to the
# daemon for the duration of the workload only, and writes the flat profile
# (self time per symbol) and the caller view to OUTDIR (default bench/out).
# Environment: VEILFS (binary, default build-bench/veilfs), SEQ_MB (1024),
# FILES (13000), CALLGRAPH (perf --call-graph mode, default fp; dwarf gives
# better stacks for a build without frame pointers).
set -u -o pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
wl=${1:?usage: bench/profile.sh seqwrite|seqread|untar [OUTDIR]}
out=${2:-$here/out}
VEILFS=${VEILFS:-$here/../build-bench/veilfs}
SEQ_MB=${SEQ_MB:-1024}
FILES=${FILES:-13000}
CALLGRAPH=${CALLGRAPH:-fp}
command -v perf >/dev/null || { echo "profile.sh: perf missing (apt-get install -y linux-perf)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "profile.sh: must run as root" >&2; exit 2; }

work=$(mktemp -d /tmp/veilprof.XXXXXX)
pid=""
cleanup() {
	mountpoint -q "$work/mnt" 2>/dev/null && { fusermount3 -u "$work/mnt" || fusermount3 -uz "$work/mnt"; }
	[ -n "$pid" ] && { sleep 0.5; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
	mountpoint -q "$work/t" && umount "$work/t"
	grep -q " $work/" /proc/mounts || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/t" "$out"
mount -t tmpfs -o size=4G veilprof "$work/t"
mkdir "$work/t/c" "$work/mnt"
(umask 077; echo "veilfs-bench-passphrase" >"$work/pass")
"$VEILFS" init --kdf interactive "$work/t/c" <"$work/pass" >/dev/null
"$VEILFS" mount -f --passfile "$work/pass" "$work/t/c" "$work/mnt" </dev/null 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 100); do mountpoint -q "$work/mnt" && break; sleep 0.1; done
mountpoint -q "$work/mnt" || { echo "profile.sh: mount failed" >&2; cat "$work/daemon.log" >&2; exit 1; }

case "$wl" in
untar)
	find /usr/include /usr/share/doc -type f -readable -print0 2>/dev/null | sort -z | head -z -n "$FILES" >"$work/lst"
	tar -cf "$work/t/tree.tar" --null --no-recursion -T "$work/lst" 2>/dev/null
	mkdir "$work/mnt/tree"
	cmd=(tar -xf "$work/t/tree.tar" -C "$work/mnt/tree") ;;
seqwrite)
	cmd=(dd if=/dev/zero of="$work/mnt/seq" bs=1M count="$SEQ_MB" conv=fsync) ;;
seqread)
	dd if=/dev/zero of="$work/mnt/seq" bs=1M count="$SEQ_MB" conv=fsync 2>/dev/null
	cmd=(dd if="$work/mnt/seq" of=/dev/null bs=1M) ;;
*) echo "profile.sh: unknown workload $wl" >&2; exit 2 ;;
esac

sync; echo 3 >/proc/sys/vm/drop_caches
data="$out/perf-$wl.data"
perf record -q --call-graph "$CALLGRAPH" -F 999 -p "$pid" -o "$data" 2>"$work/perf.err" &
ppid=$!
sleep 1
t0=$EPOCHREALTIME
"${cmd[@]}" 2>&1 | tail -1
t1=$EPOCHREALTIME
kill -INT "$ppid"; wait "$ppid"
echo "workload $wl: $(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s"
perf report -i "$data" --no-children --sort sym --stdio --percent-limit 0.5 -g none 2>/dev/null \
	| grep -v '^#' | grep -v '^$' >"$out/perf-$wl.flat.txt"
perf report -i "$data" --children --sort sym --stdio --percent-limit 2 -g caller,0.5,callee --max-stack 24 2>/dev/null \
	>"$out/perf-$wl.callers.txt"
echo "flat profile: $out/perf-$wl.flat.txt"
head -30 "$out/perf-$wl.flat.txt"
