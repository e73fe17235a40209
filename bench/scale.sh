#!/bin/bash
# SPDX-License-Identifier: MIT
#
# veilfs at scale: a tree of many empty files in many directories, on a
# private tmpfs, for veilfs and its peers one after the other (not in CI).
#
#   bench/scale.sh                    1,000,000 files in 1,000 directories
#   bench/scale.sh --files 100000     a smaller run (directories: --dirs)
#   bench/scale.sh --only veilfs,bindfs
#
# For each filesystem (bindfs, gocryptfs, veilfs; a missing one is skipped):
#   - mount time of the empty volume;
#   - the tree is filled in stages up to the checkpoints 10k, 100k, 1M
#     (those not above --files, and --files itself); at each checkpoint,
#     with that many files present, three samples of SAMPLE (default
#     10,000) files spread over all directories: create of new files,
#     cold lstat of existing files picked at random (after drop_caches),
#     unlink of the new files; wall time and daemon CPU per file;
#   - mount time again with the whole tree present (after a remount);
#   - cold `find | wc -l` and cold `ls -lR` of the whole tree;
#   - daemon RSS after mount, after the walk, and after
#     `echo 2 > /proc/sys/vm/drop_caches` (the kernel forgets the inodes;
#     RSS is read once it has been still for 2 s, at most 30 s), and for
#     veilfs its node count (veilfs info --mounted).
# Prints markdown tables and writes them to bench/out/scale-DATE.md (raw
# figures: scale-DATE.tsv). Must run as root (tmpfs, drop_caches). Always
# unmounts what it mounted and removes its tmpfs, also on failure or Ctrl-C.
#
# Environment: VEILFS (binary; default build-bench/veilfs, built as in
# bench/run.sh), VEILFS_DESC (what to report as its source; default: the git
# commit of this checkout), SAMPLE, TMPFS_SIZE (default 16G), OUTDIR.
# Exit status: 0 when every step succeeded, 1 otherwise, 2 on bad usage.
set -u -o pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

FILES=1000000
DIRS=1000
only="bindfs,gocryptfs,veilfs"
while [ $# -gt 0 ]; do
	case "$1" in
	--files) FILES=${2:?--files needs a number}; shift ;;
	--files=*) FILES=${1#--files=} ;;
	--dirs) DIRS=${2:?--dirs needs a number}; shift ;;
	--dirs=*) DIRS=${1#--dirs=} ;;
	--only) only=${2:?--only needs a list}; shift ;;
	--only=*) only=${1#--only=} ;;
	-h|--help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"; exit 0 ;;
	*) echo "bench/scale.sh: unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done
case "$FILES$DIRS" in *[!0-9]*|"") echo "bench/scale.sh: --files and --dirs take numbers" >&2; exit 2 ;; esac
if [ "$FILES" -lt 1000 ] || [ "$DIRS" -lt 1 ] || [ "$DIRS" -gt "$FILES" ]; then
	echo "bench/scale.sh: --files must be at least 1000 and --dirs between 1 and --files" >&2
	exit 2
fi
for fs in ${only//,/ }; do
	case "$fs" in bindfs|gocryptfs|veilfs) ;; *) echo "bench/scale.sh: unknown filesystem: $fs" >&2; exit 2 ;; esac
done
if [ "$(id -u)" != 0 ]; then
	echo "bench/scale.sh: must run as root (tmpfs mount, drop_caches)" >&2
	exit 2
fi
: "${SAMPLE:=10000}" "${TMPFS_SIZE:=16G}" "${OUTDIR:=$here/out}"
[ "$SAMPLE" -gt "$FILES" ] && SAMPLE=$FILES
CHECKPOINTS=()
for c in 10000 100000 1000000; do [ "$c" -lt "$FILES" ] && CHECKPOINTS+=("$c"); done
CHECKPOINTS+=("$FILES")
PASS="veilfs-scale-passphrase"
TMO=3600

work=""
base=""
tmpfs_mounted=0
MNT="" PID="" FSNAME=""
errors=0

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
fsub() { awk "BEGIN { printf \"%.6f\", $1 }"; }
have() { command -v "$1" >/dev/null 2>&1; }
is_mounted() { grep -qF " $1 " /proc/self/mountinfo; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
clk_tck=$(getconf CLK_TCK)
drop() { sync; echo "$1" > /proc/sys/vm/drop_caches; }

unmount_fs() {
	[ -n "$MNT" ] || return 0
	if is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || umount "$MNT" 2>/dev/null ||
			{ sleep 1; fusermount3 -u "$MNT" 2>/dev/null; } || fusermount3 -uz "$MNT" 2>/dev/null
	fi
	if [ -n "$PID" ]; then
		for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$PID" 2>/dev/null && kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	MNT="" PID=""
}

cleanup() {
	trap - EXIT INT TERM HUP
	unmount_fs
	if [ "$tmpfs_mounted" = 1 ]; then
		umount "$base" 2>/dev/null || umount -l "$base"
		tmpfs_mounted=0
	fi
	[ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# mount FS: start the daemon on $base/FS.cipher at $base/FS.mnt, wait until
# mounted; sets MNT, PID and MOUNT_S (seconds from start to mounted).
start_fs() {
	local fs=$1 c="$base/$1.cipher" m="$base/$1.mnt" lf="$work/$1.log" t0
	mkdir -p "$m"
	t0=$EPOCHREALTIME
	case "$fs" in
	bindfs) bindfs -f "$c" "$m" >>"$lf" 2>&1 & PID=$! ;;
	gocryptfs) gocryptfs -f -q -passfile "$work/pass" "$c" "$m" >>"$lf" 2>&1 & PID=$! ;;
	veilfs) "$VEILFS" mount -f --passfile "$work/pass" "$c" "$m" >>"$lf" 2>&1 </dev/null & PID=$! ;;
	esac
	MNT=$m
	local i=0
	while ! is_mounted "$m"; do
		if ! kill -0 "$PID" 2>/dev/null; then
			log "ERROR: $fs did not mount: $(tail -1 "$lf")"
			PID=""
			return 1
		fi
		i=$((i + 1))
		if [ $i -gt 30000 ]; then
			log "ERROR: $fs not mounted after 60 s"
			return 1
		fi
		sleep 0.002
	done
	MOUNT_S=$(fsub "$EPOCHREALTIME - $t0")
}

init_fs() { # fs: create the volume in $base/FS.cipher
	local fs=$1 c="$base/$1.cipher" lf="$work/$1.log"
	mkdir -p "$c"
	case "$fs" in
	bindfs) : ;;
	gocryptfs) gocryptfs -init -q -scryptn 10 -passfile "$work/pass" "$c" >>"$lf" 2>&1 ;;
	veilfs) "$VEILFS" init --kdf interactive --passfile "$work/pass" "$c" >>"$lf" 2>&1 ;;
	esac
}

# the file operations, in one python process per step (its own overhead,
# about 1-2 us per file, is the same for every filesystem)
cat_ops() {
	cat <<'EOF'
import os, random, sys, time
op, mnt, ndirs = sys.argv[1], sys.argv[2], int(sys.argv[3])
a, b = int(sys.argv[4]), int(sys.argv[5])
def d(i):
    return "%s/d%04d" % (mnt, i % ndirs)
t = time.perf_counter()
if op == "mkdirs":
    for i in range(ndirs):
        os.mkdir(d(i))
elif op == "fill":            # files a..b-1
    for i in range(a, b):
        os.close(os.open("%s/f%d" % (d(i), i), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
elif op == "create":          # sample files s0..s(b-1), spread over the directories
    for j in range(b):
        os.close(os.open("%s/s%d" % (d(j), j), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
elif op == "stat":            # b random files of the a present ones
    rng = random.Random(a)
    for i in rng.sample(range(a), b):
        os.lstat("%s/f%d" % (d(i), i))
elif op == "unlink":
    for j in range(b):
        os.unlink("%s/s%d" % (d(j), j))
print("%.6f" % (time.perf_counter() - t))
EOF
}

RES=""
put() { printf '%s\t%s\t%s\t%s\n' "$FSNAME" "$1" "$2" "$3" >>"$RES"; } # fs key scale value

# step KEY SCALE N OP A B: run one timed file operation; records wall and
# daemon CPU per file (us)
step() {
	local key=$1 scale=$2 n=$3 c0 c1 secs
	shift 3
	c0=$(cpu_ticks "$PID")
	if ! secs=$(timeout -k 10 "$TMO" python3 "$work/ops.py" "$1" "$MNT" "$DIRS" "$2" "$3" 2>>"$work/steps.log"); then
		log "ERROR: $FSNAME $key at $scale failed (see the step log)"
		errors=$((errors + 1))
		return 1
	fi
	c1=$(cpu_ticks "$PID")
	put "${key}_us" "$scale" "$(fsub "$secs * 1e6 / $n")"
	put "${key}_cpu_us" "$scale" "$(fsub "($c1 - $c0) / $clk_tck * 1e6 / $n")"
	LAST_S=$secs
}

timed_cmd() { # key cmd...: cold, wall seconds
	local key=$1 t0 c0
	shift
	drop 3
	c0=$(cpu_ticks "$PID")
	t0=$EPOCHREALTIME
	if ! timeout -k 10 "$TMO" bash -c "$1" >>"$work/steps.log" 2>&1; then
		log "ERROR: $FSNAME $key failed"
		errors=$((errors + 1))
		return 1
	fi
	put "$key" all "$(fsub "$EPOCHREALTIME - $t0")"
	put "${key}_cpu" all "$(fsub "($(cpu_ticks "$PID") - $c0) / $clk_tck")"
}

nodes_of() { # veilfs only: the daemon's node count
	[ "$FSNAME" = veilfs ] || return 0
	"$VEILFS" info --mounted "$MNT" 2>/dev/null | awk '$1 == "nodes" { print $2 }'
}

# RSS once it has stopped changing for 2 s (the kernel sends its FORGETs
# after drop_caches), at most 30 s
settled_rss() {
	local last now still=0
	last=$(rss_kb "$PID")
	for _ in $(seq 1 60); do
		sleep 0.5
		now=$(rss_kb "$PID")
		if [ "$now" = "$last" ]; then still=$((still + 1)); else still=0; fi
		last=$now
		[ $still -ge 4 ] && break
	done
	echo "$last"
}

run_fs() {
	local fs=$1 have_n=0 cp
	FSNAME=$fs
	log "== $fs"
	init_fs "$fs" || { log "ERROR: $fs: init failed: $(tail -1 "$work/$fs.log")"; errors=$((errors + 1)); return; }
	drop 3
	start_fs "$fs" || { errors=$((errors + 1)); unmount_fs; return; }
	put mount_empty_s - "$MOUNT_S"
	put rss_mount_kb - "$(rss_kb "$PID")"
	log "$fs: mounted in $MOUNT_S s (pid $PID)"
	python3 "$work/ops.py" mkdirs "$MNT" "$DIRS" 0 0 >/dev/null || { errors=$((errors + 1)); unmount_fs; return; }
	for cp in "${CHECKPOINTS[@]}"; do
		step fill "$cp" "$((cp - have_n))" fill "$have_n" "$cp" || break
		log "$fs: $cp files ($((cp - have_n)) created in $LAST_S s)"
		have_n=$cp
		drop 3
		step create "$cp" "$SAMPLE" create 0 "$SAMPLE" || break
		drop 3
		step stat "$cp" "$SAMPLE" stat "$cp" "$SAMPLE" || break
		step unlink "$cp" "$SAMPLE" unlink 0 "$SAMPLE" || break
		log "$fs: at $cp: sample of $SAMPLE created, stat cold, unlinked"
	done
	if [ "$have_n" = "$FILES" ]; then
		unmount_fs
		drop 3
		start_fs "$fs" || { errors=$((errors + 1)); unmount_fs; return; }
		put mount_full_s - "$MOUNT_S"
		put rss_remount_kb - "$(rss_kb "$PID")"
		log "$fs: remounted with $FILES files in $MOUNT_S s"
		local want=$((FILES + DIRS + 1))
		timed_cmd find "n=\$(find '$MNT' | wc -l) && [ \"\$n\" = $want ] || { echo \"find counted \$n, want $want\"; exit 1; }"
		timed_cmd ls_lR "ls -lR '$MNT' >/dev/null"
		put rss_walk_kb - "$(rss_kb "$PID")"
		put nodes_walk - "$(nodes_of)"
		drop 2
		put rss_drop_kb - "$(settled_rss)"
		put nodes_drop - "$(nodes_of)"
		log "$fs: walked; RSS $(rss_kb "$PID") kB after drop_caches"
	fi
	unmount_fs
	rm -rf "${base:?}/$fs.cipher" "${base:?}/$fs.mnt"
}

# ------------------------------------------------------------------ main
work=$(mktemp -d /tmp/veilscale.XXXXXX)
mkdir -p "$OUTDIR"
RES="$work/res.tsv"
: >"$RES"
printf '%s\n' "$PASS" >"$work/pass"
chmod 600 "$work/pass"
cat_ops >"$work/ops.py"

if [[ ",$only," == *,veilfs,* ]] && [ -z "${VEILFS:-}" ]; then
	VEILFS="$repo/build-bench/veilfs"
	if [ ! -x "$VEILFS" ] || [ -n "$(find "$repo/src" "$repo/include" -newer "$VEILFS" -print -quit)" ]; then
		log "building $VEILFS (release)"
		[ -d "$repo/build-bench" ] || meson setup "$repo/build-bench" "$repo" --buildtype=release >"$work/build.log" 2>&1
		ninja -C "$repo/build-bench" veilfs >>"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
	fi
fi

base="$work/t"
mkdir -p "$base"
mount -t tmpfs -o "size=$TMPFS_SIZE,nr_inodes=0,mode=0755" veilscale "$base" || { echo "tmpfs mount failed" >&2; exit 1; }
tmpfs_mounted=1

stamp=$(date +%Y%m%d-%H%M%S)
t_start=$EPOCHREALTIME
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
ran=()
for fs in bindfs gocryptfs veilfs; do
	[[ ",$only," == *,$fs,* ]] || continue
	if [ "$fs" = veilfs ] || have "$fs"; then
		run_fs "$fs"
		ran+=("$fs")
	else
		log "$fs: not installed, skipped"
	fi
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

ver() { "$@" 2>&1 | head -1; }
{
	printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf 'files\t%s\n' "$FILES"
	printf 'dirs\t%s\n' "$DIRS"
	printf 'sample\t%s\n' "$SAMPLE"
	printf 'checkpoints\t%s\n' "${CHECKPOINTS[*]}"
	printf 'fs\t%s\n' "${ran[*]}"
	printf 'machine\t%s cores, %s, %s, %s\n' "$(nproc)" \
		"$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
		"$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)" "$(uname -sr)"
	printf 'versions\t%s; %s; %s\n' \
		"$([ -n "${VEILFS:-}" ] && ver "$VEILFS" --version || echo 'veilfs not run') (${VEILFS_DESC:-git $(git -C "$repo" rev-parse --short HEAD 2>/dev/null)$(git -C "$repo" diff --quiet HEAD -- src include meson.build 2>/dev/null || echo ' + uncommitted changes')})" \
		"$(have gocryptfs && ver gocryptfs -version || echo 'gocryptfs missing')" \
		"$(have bindfs && ver bindfs --version || echo 'bindfs missing')"
	printf 'loadavg\t%s at start, %s at end\n' "$load_start" "$load_end"
	printf 'duration\t%s s\n' "$(fsub "$EPOCHREALTIME - $t_start")"
	printf 'errors\t%s\n' "$errors"
} >"$work/meta.tsv"

md="$OUTDIR/scale-$stamp.md"
cp "$RES" "$OUTDIR/scale-$stamp.tsv"
python3 - "$work/meta.tsv" "$RES" "$md" <<'EOF'
import sys
meta = dict(l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1]) if "\t" in l)
res = {}
for line in open(sys.argv[2]):
    fs, key, scale, v = line.rstrip("\n").split("\t")
    if v:
        res[(fs, key, scale)] = float(v)
fss = meta["fs"].split()
cps = meta["checkpoints"].split()
L = ["## Scale run (%s)\n" % meta["date"],
     "`bench/scale.sh --files %s --dirs %s` (sample %s files per checkpoint). Machine: %s. "
     "Load average %s. Versions: %s. Run time %s; errors: %s.\n"
     % (meta["files"], meta["dirs"], meta["sample"], meta["machine"], meta["loadavg"],
        meta["versions"], meta["duration"], meta["errors"])]

def get(fs, key, scale="-"):
    return res.get((fs, key, scale))

def f(v, fmt="%.1f"):
    return "–" if v is None else fmt % v

def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    return out + ["| " + " | ".join(r) + " |" for r in rows]

def n(c):
    c = int(c)
    return "%dM" % (c // 1000000) if c % 1000000 == 0 else "%dk" % (c // 1000) if c % 1000 == 0 else str(c)

L.append("### Per file at each size (µs wall; daemon CPU µs in brackets)\n")
rows = []
for fs in fss:
    for what, key in (("create", "create"), ("stat, cold", "stat"), ("unlink", "unlink"),
                      ("fill (bulk create)", "fill")):
        row = [fs, what]
        for c in cps:
            w, cpu = get(fs, key + "_us", c), get(fs, key + "_cpu_us", c)
            row.append("–" if w is None else "%.1f (%.1f)" % (w, cpu or 0))
        first, last = get(fs, key + "_us", cps[0]), get(fs, key + "_us", cps[-1])
        row.append("–" if not first or last is None else "%.2f" % (last / first))
        rows.append(row)
L += table(["fs", "per file"] + [n(c) + " files" for c in cps] + ["%s / %s" % (n(cps[-1]), n(cps[0]))], rows)
L.append("")
L.append("### The whole tree (%s files, %s directories)\n" % (meta["files"], meta["dirs"]))
rows = []
bf, bl = get("bindfs", "find", "all"), get("bindfs", "ls_lR", "all")
for fs in fss:
    mib = lambda kb: "–" if kb is None else "%.1f" % (kb / 1024)
    fi, ls = get(fs, "find", "all"), get(fs, "ls_lR", "all")
    rows.append([fs, f(get(fs, "mount_empty_s"), "%.3f"), f(get(fs, "mount_full_s"), "%.3f"),
                 f(fi, "%.2f") + ("" if fi is None or not bf else " (%.2f×)" % (fi / bf)),
                 f(ls, "%.2f") + ("" if ls is None or not bl else " (%.2f×)" % (ls / bl)),
                 f(get(fs, "find_cpu", "all"), "%.2f") + " / " + f(get(fs, "ls_lR_cpu", "all"), "%.2f"),
                 mib(get(fs, "rss_remount_kb")), mib(get(fs, "rss_walk_kb")), mib(get(fs, "rss_drop_kb")),
                 f(get(fs, "nodes_walk"), "%.0f") + " / " + f(get(fs, "nodes_drop"), "%.0f")])
L += table(["fs", "mount s (empty)", "mount s (full)", "find \\| wc -l s (× bindfs)",
            "ls -lR s (× bindfs)", "daemon CPU s find / ls", "RSS MiB after remount",
            "RSS MiB after walk", "RSS MiB after drop_caches", "nodes after walk / drop"], rows)
L.append("")
text = "\n".join(L) + "\n"
open(sys.argv[3], "w").write(text)
sys.stdout.write(text)
EOF
log "markdown: $md"
[ "$errors" = 0 ]
