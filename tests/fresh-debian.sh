#!/bin/bash
# SPDX-License-Identifier: MIT
# Does the README work for a new user on a freshly installed Debian 12?
#
#   bash tests/fresh-debian.sh [--keep]        (as root; needs debootstrap, git)
#
# Builds a minimal Debian 12 root with 'debootstrap --variant=minbase
# bookworm' (cached pristine in $VEILFS_FRESH_CACHE, default
# /var/cache/veilfs-fresh-debian, and reused by later runs), copies it,
# clones this checkout's HEAD into the copy's /root/veilfs, binds /dev,
# /dev/pts, /proc and /sys into it and runs the README's two commands inside
# with chroot, as root with an empty environment:
#
#   1. the first command (./run.sh ~/Private.veil ~/Private), with the
#      passphrase on stdin (one line for init, one for mount); then a file
#      is written through the mount and read back, its content must not
#      appear in the cipher directory, and the volume is unmounted;
#   2. the second command (bash tests/run-all.sh), with no stdin.
#
# The commands are taken from the README's first sh block, so the script
# checks what the README says. Prints one line with both results and exits
# 0 only if both passed. Whatever happens, everything mounted below the work
# directory is unmounted, processes left in the chroot are stopped, and the
# copy is removed (kept with --keep). The output of both commands is kept in
# the cache directory (last-run-*.log). Not run by CI.
set -uo pipefail

keep=0
[ "${1:-}" = --keep ] && keep=1
src=$(cd "$(dirname "$0")/.." && pwd)
cache=${VEILFS_FRESH_CACHE:-/var/cache/veilfs-fresh-debian}
mirror=${VEILFS_FRESH_MIRROR:-http://deb.debian.org/debian}
pristine=$cache/bookworm-minbase
passphrase="fresh-debian passphrase $$"
me=fresh-debian

die() {
	echo "$me: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, bind mounts)"
for prog in debootstrap git chroot mount umount; do
	command -v "$prog" >/dev/null || die "$prog not found (Debian packages: debootstrap git; see .ci/packages.sh)"
done

# The README's two commands: the non-comment lines of its first sh block.
mapfile -t cmds < <(awk '/^```sh/ { inb = 1; next } inb && /^```/ { exit }
	inb { sub(/[ \t]*#.*/, ""); if ($0 ~ /[^ \t]/) print }' "$src/README.md")
[ ${#cmds[@]} -eq 2 ] || die "expected two commands in README.md's first sh block, found ${#cmds[@]}"

mkdir -p "$cache" || die "cannot create $cache"
if [ ! -x "$pristine/bin/bash" ]; then
	echo "$me: debootstrap --variant=minbase bookworm into $pristine" >&2
	rm -rf "$pristine.tmp"
	debootstrap --variant=minbase bookworm "$pristine.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
		die "debootstrap failed; see $cache/debootstrap.log"
	mv "$pristine.tmp" "$pristine" || die "cannot move the new root into $pristine"
fi

work=$(mktemp -d /var/tmp/veilfs-fresh.XXXXXX) || die "mktemp failed"
root=$work/root

# Mount points below $work, deepest first (only our own: everything below
# this directory was mounted by this script or inside its chroot).
mounts_below_work() {
	awk -v w="$work" '{ gsub(/\\040/, " ", $5) } $5 == w || index($5, w "/") == 1 { print $5 }' \
		/proc/self/mountinfo | sort -r
}

# Processes whose root directory is the chroot (started by us in it).
chroot_pids() {
	local p r
	for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2>/dev/null) || continue
		[ "$r" = "$root" ] && echo "${p#/proc/}"
	done
}

cleanup() {
	local m pids i
	# FUSE mounts first (their daemons exit), then stray processes, then binds.
	while read -r m; do
		[ -n "$m" ] || continue
		if awk -v m="$m" '$5 == m { for (i = 7; $i != "-"; i++); print $(i + 1) }' \
			/proc/self/mountinfo | grep -q '^fuse'; then
			fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null || umount -l "$m"
		fi
	done < <(mounts_below_work)
	for i in 1 2 3 4 5 6 7 8 9 10; do
		pids=$(chroot_pids)
		[ -n "$pids" ] || break
		# shellcheck disable=SC2086
		kill $([ "$i" -lt 6 ] && echo -TERM || echo -KILL) $pids 2>/dev/null
		sleep 1
	done
	while read -r m; do
		[ -n "$m" ] || continue
		umount "$m" 2>/dev/null || umount -l "$m"
	done < <(mounts_below_work)
	if [ -n "$(mounts_below_work)" ]; then
		echo "$me: NOT removing $work: still mounted: $(mounts_below_work | tr '\n' ' ')" >&2
	elif [ $keep = 1 ]; then
		echo "$me: kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

echo "$me: copying the pristine root to $root" >&2
cp -a "$pristine" "$root" || die "cannot copy $pristine"
# No service starts inside the chroot when a package is installed.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod 755 "$root/usr/sbin/policy-rc.d"
git clone -q --no-hardlinks "$src" "$root/root/veilfs" || die "git clone of $src failed"
for d in dev dev/pts proc sys; do
	mount --bind "/$d" "$root/$d" || die "cannot bind /$d into $root"
done
[ -c "$root/dev/fuse" ] || die "no /dev/fuse in the chroot"

in_chroot() {
	chroot "$root" /usr/bin/env -i HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/bash -c "cd /root/veilfs && $1"
}

log1=$cache/last-run-1.log
log2=$cache/last-run-2.log
r1=FAILED
r2="not run"
echo "$me: in the chroot: ${cmds[0]}" >&2
if printf '%s\n%s\n' "$passphrase" "$passphrase" | in_chroot "${cmds[0]}" >"$log1" 2>&1; then
	marker="written through the mount $$ $RANDOM"
	# The README mounts ~/Private: write, read back, look for the plaintext
	# in the cipher dir, unmount.
	if in_chroot "set -e
		printf '%s\n' '$marker' >~/Private/hello.txt
		[ \"\$(cat ~/Private/hello.txt)\" = '$marker' ]
		! grep -rqF '$marker' ~/Private.veil
		fusermount3 -u ~/Private" >>"$log1" 2>&1; then
		r1="passed (mounted; a file written and read back through the mount)"
	else
		r1="FAILED (writing or reading through the mount; see $log1)"
	fi
else
	r1="FAILED (exit status $?; see $log1)"
fi
if [ "${r1%% *}" = passed ]; then
	echo "$me: in the chroot: ${cmds[1]}" >&2
	in_chroot "${cmds[1]}" </dev/null >"$log2" 2>&1
	rc=$?
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log2" | tail -1)
	fuzz=$(grep -E '^fuzz: ' "$log2" | tail -1)
	detail="${summary:-no summary line}${fuzz:+; $fuzz}"
	if [ $rc = 0 ]; then
		r2="passed ($detail)"
	else
		r2="FAILED (exit status $rc: $detail; see $log2)"
	fi
fi
echo "$me: Debian 12 minbase: '${cmds[0]}' $r1; '${cmds[1]}' $r2"
[ "${r1%% *}" = passed ] && [ "${r2%% *}" = passed ]
