#!/bin/bash
# SPDX-License-Identifier: MIT
#
# veilfs benchmark: mounts veilfs and its peers side by side on one backing
# store and runs the same workloads on each, interleaved, REPS times.
#
#   bench/run.sh                 full run on a tmpfs (20-40 minutes)
#   bench/run.sh --quick         smoke run (< 60 s): small sizes, one repetition
#   bench/run.sh --disk DIR      back every filesystem with a directory on DIR
#   bench/run.sh --only veilfs,gocryptfs-xchacha,bindfs   a subset (plain is always run)
#
# Filesystems: plain (the backing directory itself, no FUSE), bindfs
# (unencrypted FUSE passthrough), gocryptfs (AES-GCM), gocryptfs-xchacha,
# securefs, veilfs. A peer that is not installed, or fails to mount, is
# reported as missing and skipped.
#
# Must run as root (tmpfs mount, /proc/sys/vm/drop_caches).
# Environment overrides: WORKLOADS (groups to run, default "seq fio tree
# create"), SEQ_DATA (random | zero: data of the sequential write, default
# random), REPS, SEQ_MB, FIO_MB, FIO_RUNTIME (fio time syntax:
# 10, 500ms), FILES, CREATE_N, TMPFS_SIZE, OUTDIR, VEILFS (path of the veilfs
# binary; default build-bench/veilfs, rebuilt with meson --buildtype=release
# when missing or older than src/), VEILFS_DESC (what to report as its source,
# default: git commit of this checkout).
#
# Exit status: 0 when every measurement on every mounted filesystem
# succeeded, 1 otherwise, 2 on bad usage.
set -u -o pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

quick=0
disk=""
only=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--disk) disk=${2:?--disk needs a directory}; shift ;;
	--disk=*) disk=${1#--disk=} ;;
	--only) only=${2:?--only needs a list}; shift ;;
	--only=*) only=${1#--only=} ;;
	-h|--help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"; exit 0 ;;
	*) echo "bench/run.sh: unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done

if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh: must run as root (tmpfs mount, drop_caches)" >&2
	exit 2
fi

if [ "$quick" = 1 ]; then
	: "${REPS:=1}" "${SEQ_MB:=32}" "${FIO_MB:=32}" "${FIO_RUNTIME:=500ms}"
	: "${FILES:=500}" "${CREATE_N:=500}" "${TMPFS_SIZE:=1G}"
else
	: "${REPS:=3}" "${SEQ_MB:=1024}" "${FIO_MB:=256}" "${FIO_RUNTIME:=10}"
	: "${FILES:=13000}" "${CREATE_N:=10000}" "${TMPFS_SIZE:=4G}"
fi
: "${OUTDIR:=$here/out}" "${SEQ_DATA:=random}" "${WORKLOADS:=seq fio tree create}"
case "$SEQ_DATA" in zero|random) ;; *) echo "bench/run.sh: SEQ_DATA must be zero or random" >&2; exit 2 ;; esac
for w in $WORKLOADS; do
	case "$w" in seq|fio|tree|create) ;; *) echo "bench/run.sh: unknown workload group: $w" >&2; exit 2 ;; esac
done
TMO=1800   # per-command timeout (s): a hung filesystem fails the step, not the run

ALL_FS=(plain bindfs gocryptfs gocryptfs-xchacha securefs veilfs)
PASS="veilfs-bench-passphrase"

# ---------------------------------------------------------------- state
work=""           # scratch directory (logs, raw results); always on /tmp
base=""           # backing store: a tmpfs we mount, or a directory on --disk
tmpfs_mounted=0
declare -A MNT PID STATUS CPU0 RSS_AFTER_MOUNT
FS=()             # filesystems that mounted
errors=0

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

# --------------------------------------------------------------- cleanup
unmount_one() { # fs
	local fs=$1 m=${MNT[$1]:-} p=${PID[$1]:-} i
	[ -n "$m" ] || return 0
	if [ "$fs" != plain ] && mountpoint -q "$m" 2>/dev/null; then
		fusermount3 -u "$m" 2>/dev/null || { sleep 1; fusermount3 -u "$m" 2>/dev/null; } \
			|| fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	fi
	if [ -n "$p" ]; then
		for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p" 2>/dev/null; sleep 1
			kill -KILL "$p" 2>/dev/null
		fi
		wait "$p" 2>/dev/null
	fi
	PID[$fs]=""
}

cleanup_done=0
cleanup() {
	[ "$cleanup_done" = 1 ] && return
	cleanup_done=1
	trap '' INT TERM
	local fs
	for fs in "${ALL_FS[@]}"; do unmount_one "$fs"; done
	if [ "$tmpfs_mounted" = 1 ]; then
		umount "$base" 2>/dev/null || umount -l "$base" 2>/dev/null
		tmpfs_mounted=0
	fi
	# Delete scratch data only when nothing is mounted below it any more.
	if [ -n "$work" ] && ! grep -q " $work/" /proc/mounts; then
		[ -n "$disk" ] && [ -n "$base" ] && rm -rf "$base"
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'log "interrupted"; cleanup; exit 130' INT
trap 'log "terminated"; cleanup; exit 143' TERM

# --------------------------------------------------------------- helpers
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

clk_tck=$(getconf CLK_TCK)
cpu_ticks() { # pid -> utime+stime of the whole process (all threads), in ticks
	local line rest
	[ -n "${1:-}" ] && read -r line < "/proc/$1/stat" 2>/dev/null || { echo 0; return; }
	rest=${line##*) }
	# shellcheck disable=SC2086
	set -- $rest
	echo $(( ${12} + ${13} ))
}
proc_kb() { # pid field -> kB value of /proc/PID/status field
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}
fsub() { awk "BEGIN { printf \"%.6f\", $1 }"; }

wait_mounted() { # mnt pid -> 0 when mounted
	local i
	for i in $(seq 300); do
		mountpoint -q "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# ------------------------------------------------------- mount each kind
have() { command -v "$1" >/dev/null 2>&1; }

mount_fs() { # fs -> sets MNT, PID, STATUS; returns 0 when usable
	local fs=$1 c="$base/$1.cipher" m="$base/$1.mnt" lf="$work/$1.daemon.log"
	mkdir -p "$c" "$m"
	case "$fs" in
	plain)
		MNT[$fs]=$c; PID[$fs]=""; STATUS[$fs]=ok; return 0 ;;
	bindfs)
		have bindfs || { STATUS[$fs]="missing (bindfs not installed)"; return 1; }
		bindfs -f "$c" "$m" >"$lf" 2>&1 &
		PID[$fs]=$! ;;
	gocryptfs|gocryptfs-xchacha)
		have gocryptfs || { STATUS[$fs]="missing (gocryptfs not installed)"; return 1; }
		local x=""; [ "$fs" = gocryptfs-xchacha ] && x=-xchacha
		# -scryptn 10 only makes mount fast; it does not change the data path.
		if ! gocryptfs -init -q $x -scryptn 10 -passfile "$work/pass" "$c" >"$lf" 2>&1; then
			STATUS[$fs]="failed (gocryptfs -init $x: $(tail -1 "$lf"))"; return 1
		fi
		gocryptfs -f -q -passfile "$work/pass" "$c" "$m" >>"$lf" 2>&1 &
		PID[$fs]=$! ;;
	securefs)
		have securefs || { STATUS[$fs]="missing (securefs not installed)"; return 1; }
		# PBKDF2 with few rounds only makes create/mount fast (Argon2 default: ~7 s).
		if ! securefs create --pbkdf pkcs5-pbkdf2-hmac-sha256 -r 1000 --pass "$PASS" "$c" >"$lf" 2>&1; then
			STATUS[$fs]="failed (securefs create: $(tail -1 "$lf"))"; return 1
		fi
		securefs mount --pass "$PASS" "$c" "$m" >>"$lf" 2>&1 &
		PID[$fs]=$! ;;
	veilfs)
		if ! "$VEILFS" init --kdf interactive "$c" <"$work/pass" >"$lf" 2>&1; then
			STATUS[$fs]="failed (veilfs init: $(tail -1 "$lf"))"; return 1
		fi
		"$VEILFS" mount -f --passfile "$work/pass" "$c" "$m" >>"$lf" 2>&1 </dev/null &
		PID[$fs]=$! ;;
	esac
	MNT[$fs]=$m
	if ! wait_mounted "$m" "${PID[$fs]}"; then
		STATUS[$fs]="failed to mount: $(tail -1 "$lf" 2>/dev/null)"
		unmount_one "$fs"
		return 1
	fi
	STATUS[$fs]=ok
	return 0
}

# ------------------------------------------------------------ recording
RAW=""
record() { # fs workload value cpu_seconds
	printf '%s\t%s\t%s\t%s\t%s\n' "$rep" "$1" "$2" "$3" "$4" >>"$RAW"
}
fail() { # fs workload message
	errors=$((errors + 1))
	printf '%s\t%s\t%s\tERR\t\n' "$rep" "$1" "$2" >>"$RAW"
	log "ERROR: $1 $2: $3 (see $work/steps.log)"
}

# veilfs's request counters (veilfs info --mounted, docs/veilfs.1): a
# snapshot before and after each measurement; the difference per opcode
# goes to requests.tsv (rep, fs, workload, opcode, count, handler ns). The
# snapshot before is itself one GETXATTR request: it is subtracted.
REQS=""
counters_snap() { # fs file -> 0 when the counters could be read
	[ "$1" = veilfs ] || return 1
	"$VEILFS" info --mounted "${MNT[$1]}" >"$2" 2>>"$work/steps.log"
}
counters_delta() { # fs workload before after
	awk -v rep="$rep" -v fs="$1" -v wl="$2" '
		FNR == NR { if ($1 == "op") { c[$2] = $3; n[$2] = $4 } next }
		$1 == "op" {
			d = $3 - c[$2]; t = $4 - n[$2]
			if ($2 == "GETXATTR") d--
			if (d > 0) printf "%s\t%s\t%s\t%s\t%d\t%d\n", rep, fs, wl, $2, d, t
		}' "$3" "$4" >>"$REQS"
}

# timed fs workload cmd... : drop caches, run cmd, record elapsed seconds
# (or nothing on failure). Sets T (elapsed) and C (daemon CPU seconds).
T=0 C=0 NA_PATTERN=""
timed() {
	local fs=$1 wl=$2 t0 t1 c0 c1 rc snap=0
	shift 2
	drop_caches
	counters_snap "$fs" "$work/counters.before" && snap=1
	c0=$(cpu_ticks "${PID[$fs]}")
	t0=$EPOCHREALTIME
	echo "== rep $rep $fs $wl: $*" >>"$work/steps.log"
	timeout -k 10 "$TMO" "$@" >>"$work/steps.log" 2>&1
	rc=$?
	t1=$EPOCHREALTIME
	c1=$(cpu_ticks "${PID[$fs]}")
	if [ $snap = 1 ] && counters_snap "$fs" "$work/counters.after"; then
		counters_delta "$fs" "$wl" "$work/counters.before" "$work/counters.after"
	fi
	T=$(fsub "$t1 - $t0")
	C=$(fsub "($c1 - $c0) / $clk_tck")
	local na=$NA_PATTERN
	NA_PATTERN=""
	if [ $rc != 0 ]; then
		if [ -n "$na" ] && tail -5 "$work/steps.log" | grep -q "$na"; then
			log "$fs $wl: n/a ($na)"
			record "$fs" "$wl" NA ""
			return 2
		fi
		fail "$fs" "$wl" "exit $rc"
		return 1
	fi
	return 0
}

alive() { # fs -> daemon still running (plain: always)
	[ -z "${PID[$1]}" ] && return 0
	kill -0 "${PID[$1]}" 2>/dev/null && mountpoint -q "${MNT[$1]}"
}

# ------------------------------------------------------------- workloads
w_seq() { # sequential write then cold read of SEQ_MB MiB (zeros, or SEQ_DATA=random)
	local fs=$1 f="${MNT[$1]}/seq.bin"
	if timed "$fs" seq_write dd if="$seq_src" of="$f" bs=1M count="$SEQ_MB" conv=fsync; then
		record "$fs" seq_write "$(fsub "$SEQ_MB / $T")" "$C"
		if timed "$fs" seq_read dd if="$f" of=/dev/null bs=1M; then
			record "$fs" seq_read "$(fsub "$SEQ_MB / $T")" "$C"
		fi
	fi
	rm -f "$f"
}

w_fio() { # 4 KiB random read / write, psync, iodepth 1, buffered and O_DIRECT
	local fs=$1 f="${MNT[$1]}/fio.bin" rw d wl
	if ! timeout -k 10 "$TMO" dd if=/dev/zero of="$f" bs=1M count="$FIO_MB" conv=fsync \
			>>"$work/steps.log" 2>&1; then
		fail "$fs" fio_layout "dd failed"; rm -f "$f"; return
	fi
	for rw in randread randwrite; do
		for d in 0 1; do
			wl="${rw}_4k_$([ $d = 1 ] && echo direct || echo buffered)"
			# a filesystem that refuses O_DIRECT (securefs on ext4 does) gets
			# n/a in the O_DIRECT rows, not an error
			[ $d = 1 ] && NA_PATTERN="does not support O_DIRECT"
			if timed "$fs" "$wl" fio --name="$wl" --filename="$f" --size="${FIO_MB}M" \
					--rw="$rw" --bs=4k --ioengine=psync --iodepth=1 --direct="$d" \
					--runtime="$FIO_RUNTIME" --time_based --norandommap \
					--output-format=json --output="$work/fio.json"; then
				local iops
				if iops=$(python3 "$here/report.py" fio-iops "$work/fio.json" "$rw"); then
					# CPU per second of fio run, to compare with IOPS
					record "$fs" "$wl" "$iops" "$C"
				else
					fail "$fs" "$wl" "cannot parse fio output"
				fi
			fi
		done
	done
	rm -f "$f"
}

w_tree() { # untar, ls -lR, read+checksum, git, rm -rf
	local fs=$1 t="${MNT[$1]}/tree"
	mkdir -p "$t"
	if timed "$fs" untar tar -xf "$work_tar" -C "$t"; then
		record "$fs" untar "$T" "$C"
		timed "$fs" ls_lR bash -c 'ls -lR "$1" >/dev/null' _ "$t" && record "$fs" ls_lR "$T" "$C"
		if timed "$fs" read_sha256 bash -c 'cd "$1" && find . -type f -print0 | sort -z | xargs -0 cat | sha256sum >"$2"' \
				_ "$t" "$work/sum"; then
			if [ "$(cat "$work/sum")" = "$ref_sum" ]; then
				record "$fs" read_sha256 "$T" "$C"
			else
				fail "$fs" read_sha256 "checksum differs from the source tree"
			fi
		fi
		local g=(git -c safe.directory='*' -c core.untrackedCache=false -c core.fsmonitor=false
			-c user.name=bench -c user.email=bench@localhost -C "$t/$git_sub")
		if timed "$fs" git_add_commit bash -c '"$@" init -q && "$@" add -A && "$@" commit -q -m bench' _ "${g[@]}"; then
			record "$fs" git_add_commit "$T" "$C"
			timeout "$TMO" "${g[@]}" status --porcelain >/dev/null 2>&1   # warm-up, untimed
			if timed "$fs" git_status bash -c 'out=$("$@" status --porcelain) && [ -z "$out" ]' _ "${g[@]}"; then
				record "$fs" git_status "$T" "$C"
			fi
		fi
	fi
	timed "$fs" rm_tree rm -rf "$t" && record "$fs" rm_tree "$T" "$C"
	rm -rf "$t"
}

w_create() { # CREATE_N empty files in one directory, then rm -rf
	local fs=$1 d="${MNT[$1]}/create"
	mkdir -p "$d"
	timed "$fs" create_empty bash -c 'cd "$1" && seq -f "f%06g" 1 "$2" | xargs touch' _ "$d" "$CREATE_N" \
		&& record "$fs" create_empty "$T" "$C"
	timed "$fs" rm_empty rm -rf "$d" && record "$fs" rm_empty "$T" "$C"
	rm -rf "$d"
}

# ------------------------------------------------------------------ main
t_start=$EPOCHREALTIME
stamp=$(date +%Y%m%d-%H%M%S)
work=$(mktemp -d /tmp/veilbench.XXXXXX)
mkdir -p "$OUTDIR"
RAW="$work/raw.tsv"
: >"$RAW"
REQS="$work/requests.tsv"
: >"$REQS"
printf '%s\n' "$PASS" >"$work/pass"
chmod 600 "$work/pass"

if ! have fio; then
	echo "bench/run.sh: fio is required (apt-get install -y fio)" >&2
	exit 1
fi

# veilfs binary: release build unless VEILFS says otherwise
if [ -z "${VEILFS:-}" ]; then
	VEILFS="$repo/build-bench/veilfs"
	if [ ! -x "$VEILFS" ] || [ -n "$(find "$repo/src" "$repo/include" -newer "$VEILFS" -print -quit)" ]; then
		log "building $VEILFS (release)"
		[ -d "$repo/build-bench" ] || meson setup "$repo/build-bench" "$repo" --buildtype=release >"$work/build.log" 2>&1
		ninja -C "$repo/build-bench" veilfs >>"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
	fi
fi

# backing store
if [ -n "$disk" ]; then
	mkdir -p "$disk"
	base=$(mktemp -d "$(cd "$disk" && pwd)/veilbench.XXXXXX")
	backing="directory on $(df --output=source,fstype "$base" | tail -1 | tr -s ' ')"
else
	base="$work/t"
	mkdir -p "$base"
	mount -t tmpfs -o "size=$TMPFS_SIZE,mode=0755" veilbench "$base" || { echo "tmpfs mount failed" >&2; exit 1; }
	tmpfs_mounted=1
	backing="tmpfs (size $TMPFS_SIZE)"
fi

# the small-file tree: files of /usr/include and /usr/share/doc, sampled
# evenly down to FILES if there are more; built once per run
log "building the file tree tarball ($FILES files)"
find /usr/include /usr/share/doc -type f -readable -print0 2>/dev/null | sort -z >"$work/all.lst"
total=$(tr -cd '\0' <"$work/all.lst" | wc -c)
python3 - "$work/all.lst" "$work/tree.lst" "$FILES" <<'EOF'
import sys
names = open(sys.argv[1], 'rb').read().split(b'\0')[:-1]
n = int(sys.argv[3])
if len(names) > n:
    names = [names[i * len(names) // n] for i in range(n)]
open(sys.argv[2], 'wb').write(b''.join(x + b'\0' for x in names))
EOF
tree_files=$(tr -cd '\0' <"$work/tree.lst" | wc -c)
work_tar="$base/tree.tar"
tar -cf "$work_tar" --null --no-recursion -T "$work/tree.lst" 2>>"$work/steps.log"
tree_bytes=$(tar -tvf "$work_tar" | awk '{s += $3} END {print s}')
ref_sum=$(cd / && sed -z 's,^/,./,' "$work/tree.lst" | sort -z | xargs -0 cat | sha256sum)
git_sub=usr/share/doc   # the git repository: a few thousand files of the tree
git_files=$(tar -tf "$work_tar" | grep -c "^$git_sub/")
if [ "$git_files" = 0 ]; then
	git_sub=usr/include
	git_files=$(tar -tf "$work_tar" | grep -c "^$git_sub/")
fi
log "tree: $tree_files of $total files, $tree_bytes bytes; git repo in $git_sub ($git_files files)"

# source of the sequential write: random bytes from a file on the backing
# store by default (securefs stores all-zero blocks without encrypting them,
# so zeros flatter it); SEQ_DATA=zero writes zeros
seq_src=/dev/zero
if [ "$SEQ_DATA" = random ]; then
	seq_src="$base/seq.src"
	head -c "$((SEQ_MB * 1048576))" /dev/urandom >"$seq_src"
fi

# mount everything
sel=("${ALL_FS[@]}")
if [ -n "$only" ]; then
	sel=(plain)
	for fs in ${only//,/ }; do [ "$fs" != plain ] && sel+=("$fs"); done
fi
for fs in "${sel[@]}"; do
	if mount_fs "$fs"; then
		FS+=("$fs")
		if [ -n "${PID[$fs]}" ]; then
			CPU0[$fs]=$(cpu_ticks "${PID[$fs]}")
			RSS_AFTER_MOUNT[$fs]=$(proc_kb "${PID[$fs]}" VmRSS)
			echo 5 >"/proc/${PID[$fs]}/clear_refs" 2>/dev/null   # reset VmHWM: peak from here on
		fi
		log "mounted $fs at ${MNT[$fs]}${PID[$fs]:+ (pid ${PID[$fs]})}"
	else
		log "$fs: ${STATUS[$fs]}"
	fi
done

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for rep in $(seq 1 "$REPS"); do
	log "rep $rep: load average $(cut -d' ' -f1-3 /proc/loadavg)"
	for w in $WORKLOADS; do
		w=w_$w
		for fs in "${FS[@]}"; do
			[ "${STATUS[$fs]}" = ok ] || continue
			log "rep $rep/$REPS ${w#w_} $fs"
			"$w" "$fs"
			if ! alive "$fs"; then
				STATUS[$fs]="daemon died during rep $rep ${w#w_}"
				errors=$((errors + 1))
				log "ERROR: $fs: ${STATUS[$fs]}"
			fi
		done
	done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# daemon totals, read before unmounting
: >"$work/daemons.tsv"
for fs in "${sel[@]}"; do
	p=${PID[$fs]:-}
	if [ -n "$p" ] && [ -e "/proc/$p" ]; then
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$fs" "${STATUS[$fs]}" \
			"$(fsub "($(cpu_ticks "$p") - ${CPU0[$fs]}) / $clk_tck")" \
			"$(proc_kb "$p" VmHWM)" "${RSS_AFTER_MOUNT[$fs]}" "$(proc_kb "$p" VmRSS)" >>"$work/daemons.tsv"
	else
		printf '%s\t%s\t\t\t\t\n' "$fs" "${STATUS[$fs]:-missing}" >>"$work/daemons.tsv"
	fi
done

ver() { "$@" 2>&1 | head -1; }
dpkgver() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo "-"; }
{
	printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf 'mode\t%s\n' "$([ "$quick" = 1 ] && echo quick || echo full)"
	printf 'backing\t%s\n' "$backing"
	printf 'reps\t%s\n' "$REPS"
	printf 'seq_mb\t%s\n' "$SEQ_MB"
	printf 'seq_data\t%s\n' "$SEQ_DATA"
	printf 'workloads\t%s\n' "$WORKLOADS"
	printf 'fio_mb\t%s\n' "$FIO_MB"
	printf 'fio_runtime\t%s\n' "$FIO_RUNTIME"
	printf 'tree_files\t%s\n' "$tree_files"
	printf 'tree_bytes\t%s\n' "$tree_bytes"
	printf 'git_sub\t%s\n' "$git_sub"
	printf 'git_files\t%s\n' "$git_files"
	printf 'create_n\t%s\n' "$CREATE_N"
	printf 'nproc\t%s\n' "$(nproc)"
	printf 'cpu\t%s\n' "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
	printf 'mem\t%s\n' "$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
	printf 'kernel\t%s\n' "$(uname -sr)"
	printf 'os\t%s\n' "$(. /etc/os-release && echo "$PRETTY_NAME")"
	if [ -z "${VEILFS_DESC:-}" ]; then
		VEILFS_DESC="git $(git -C "$repo" rev-parse --short HEAD 2>/dev/null)$(git -C "$repo" diff --quiet HEAD -- src include meson.build 2>/dev/null || echo ' + uncommitted changes')"
	fi
	printf 'veilfs\t%s (%s)\n' "$(ver "$VEILFS" --version)" "$VEILFS_DESC"
	printf 'gocryptfs\t%s\n' "$(have gocryptfs && ver gocryptfs -version || echo 'gocryptfs missing')"
	printf 'securefs\t%s\n' "$(have securefs && dpkgver securefs || echo missing)"
	printf 'bindfs\t%s\n' "$(have bindfs && ver bindfs --version || echo 'bindfs missing')"
	printf 'fio\t%s\n' "$(ver fio --version)"
	printf 'libfuse3\t%s\n' "$(dpkgver libfuse3-3)"
	printf 'libsodium\t%s\n' "$(pkg-config --modversion libsodium 2>/dev/null || dpkgver libsodium23)"
	printf 'loadavg\t%s at start of workloads, %s at end\n' "$load_start" "$load_end"
	printf 'duration\t%s s\n' "$(fsub "$EPOCHREALTIME - $t_start")"
	printf 'errors\t%s\n' "$errors"
} >"$work/meta.tsv"

suffix=$([ "$quick" = 1 ] && echo "-quick")
md="$OUTDIR/results-$stamp$suffix.md"
for f in raw meta daemons requests; do cp "$work/$f.tsv" "$OUTDIR/results-$stamp$suffix.$f.tsv"; done
if ! python3 "$here/report.py" report "$work/meta.tsv" "$work/raw.tsv" "$work/daemons.tsv" "$md" \
		"$work/requests.tsv"; then
	echo "bench/run.sh: report failed" >&2
	errors=$((errors + 1))
fi
if [ "$errors" != 0 ]; then
	cp "$work/steps.log" "$OUTDIR/results-$stamp$suffix.steps.log"
	log "$errors error(s); step log kept in $OUTDIR/results-$stamp$suffix.steps.log"
fi
log "markdown: $md"
cleanup
[ "$errors" = 0 ]
