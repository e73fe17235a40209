#!/bin/bash
# SPDX-License-Identifier: MIT
# The Debian package, end to end, on this machine: a copy of the source
# tree, its source package and lintian on it, 'dpkg-buildpackage -us -uc -b'
# (without network where a network namespace can be made), the .deb's
# contents and Depends, lintian (no E: line, and a broken copy does get
# one), 'apt-get install ./veilfs_*.deb' (and libveilfs0, libveilfs-dev),
# the installed veilfs: --version, 'man -w', the bash completion, a volume
# made, mounted, written, read back and unmounted, the example program
# built against libveilfs-dev reading it; then 'apt-get purge' and nothing
# of it is left.
# Whatever happens, the packages this test installed are purged at the end.
# Needs root (it installs packages); skips otherwise. TAP.
# usage: test_package.sh SOURCEDIR BUILDDIR
set -u
src=$1
build=$2
# shellcheck source=../tap.sh
. "$(dirname "$0")/../tap.sh"
# Read by tap.sh's ok(): of a build or lintian log, the end says what failed.
# shellcheck disable=SC2034
TAP_DIAG_LINES=40
skip_all() {
	echo "1..0 # SKIP $1"
	exit "${VEILFS_SKIP_STATUS:-77}"
}
for p in dpkg-buildpackage:dpkg-dev dpkg-source:dpkg-dev dh:debhelper lintian:lintian \
	apt-get:apt man:man-db python3:python3 fusermount3:fuse3 flock:util-linux cc:gcc \
	pkg-config:pkg-config; do
	command -v "${p%%:*}" >/dev/null || {
		echo "test_package.sh: program ${p%%:*} not found (Debian package ${p#*:}, in .ci/packages.sh)" >&2
		exit 1
	}
done
[ "$(id -u)" = 0 ] || skip_all "installing a package needs root"

# The binary packages debian/control declares; the test installs all of them.
mapfile -t pkgs < <(sed -n 's/^Package: *//p' "$src/debian/control")
[ "${#pkgs[@]}" -gt 0 ] || { echo "test_package.sh: no Package: in $src/debian/control" >&2; exit 1; }

# One package test at a time on this machine (other checkouts run it too):
# two would install and purge the same package under each other. The lock
# lives in a directory of root's own (/run is root's alone), not in the
# world-writable /run/lock, where anyone could put a file or symlink first.
lockdir=/run/veilfs-test
install -d -o 0 -g 0 -m 0755 "$lockdir" || { echo "test_package.sh: cannot make $lockdir" >&2; exit 1; }
if [ ! -d "$lockdir" ] || [ -L "$lockdir" ] || [ "$(stat -c %u:%a "$lockdir")" != 0:755 ]; then
	echo "test_package.sh: $lockdir is not a directory of root's, mode 0755" >&2
	exit 1
fi
exec 9>"$lockdir/package-test.lock"
flock -w 240 9 || { echo "test_package.sh: another package test holds $lockdir/package-test.lock" >&2; exit 1; }

# Never replace a veilfs the machine already has: the test could not put it back.
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)
	case $st in
	"" | "un "* | "pn "*) ;;
	*)
		echo "test_package.sh: package $p is already on this machine ($st); the test installs and purges its own build and will not replace it" >&2
		exit 1
		;;
	esac
done

T=$(mktemp -d /tmp/veilfs-package.XXXXXX)
installed=0
cleanup() {
	if grep -qF " $T/mnt " /proc/self/mountinfo; then
		fusermount3 -uz "$T/mnt" 2>/dev/null
	fi
	if [ "$installed" = 1 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -o DPkg::Lock::Timeout=120 "${pkgs[@]}" >/dev/null 2>&1 ||
			dpkg --purge "${pkgs[@]}" >/dev/null 2>&1
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
# The installed program and its library only, never the build tree's.
unset LD_LIBRARY_PATH LD_PRELOAD MANPATH

version=$(meson introspect --projectinfo "$build" | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')

# The source tree as a fresh checkout would have it: the files git knows
# (tracked or new, not ignored; symlinks too, dangling ones included: the
# fixture volume has some), else everything but build directories.
S=$T/veilfs-$version
mkdir "$S"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$src" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do { [ -e "$f" ] || [ -L "$f" ]; } && printf '%s\0' "$f"; done |
		tar -cf - --null -T -) | tar -xf - -C "$S"
else
	(cd "$src" && tar -cf - --exclude='./build*' --exclude=./.git --exclude=./obj-* .) | tar -xf - -C "$S"
fi
ok $? "source tree copied to $S"

dv=$(cd "$S" && dpkg-parsechangelog -S Version)
[ "$dv" = "$version" ]
ok $? "debian/changelog's version ($dv) is meson's project version ($version)"

# The source package, before anything is built in the tree, and lintian on it.
out=$(cd "$T" && dpkg-source -b "veilfs-$version" 2>&1)
ok $? "dpkg-source -b builds the source package" "$out"
lint=$(lintian "$T/veilfs_$version.dsc" 2>&1)
ok $? "lintian on the source package exits 0" "$lint"
! grep -q '^E:' <<<"$lint"
ok $? "lintian on the source package: no error" "$lint"

# The binary packages, without network where a network namespace can be made.
nonet=()
if unshare --net true 2>/dev/null; then
	nonet=(unshare --net)
fi
out=$(cd "$S" && DEB_BUILD_OPTIONS="parallel=2" "${nonet[@]}" dpkg-buildpackage -us -uc -b 2>&1)
ok $? "dpkg-buildpackage -us -uc -b${nonet[*]:+ (under ${nonet[*]}: no network)}" "$out"
deb=$T/veilfs_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ]
ok $? "built $(basename "$deb")" "$(ls "$T")"
debs=()
for p in "${pkgs[@]}"; do
	f=$(ls "$T/${p}_${version}_"*.deb 2>/dev/null | head -n 1)
	[ -n "$f" ]
	ok $? "built the $p package" "$(ls "$T")"
	debs+=("$f")
done

# What installing veilfs brings: its Depends, and those of libveilfs0 when
# the program links the library (libsodium23 then comes through it).
dep=$(dpkg-deb -f "$deb" Depends)
libdeb=$(ls "$T/libveilfs0_${version}_"*.deb 2>/dev/null | head -n 1)
alldep=$dep
if [ -n "$libdeb" ]; then
	[[ ", $dep," =~ ,\ libveilfs0\ \(=\ $version\)[,] ]]
	ok $? "veilfs Depends on libveilfs0 (= $version), the library of its own release" "$dep"
	alldep="$dep, $(dpkg-deb -f "$libdeb" Depends)"
	list=$(dpkg-deb -c "$libdeb" | awk '{ print $6 }')
	grep -qx "\./usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libveilfs\.so\.$version" <<<"$list"
	ok $? "libveilfs0 holds libveilfs.so.$version in the multiarch library directory" "$list"
	grep -q "^ (symver|optional)VEILFS_PRIVATE_$version " "$S/debian/libveilfs0.symbols"
	ok $? "debian/libveilfs0.symbols names VEILFS_PRIVATE_$version, this release's private node"
	sym=$(dpkg-deb -I "$libdeb" symbols 2>&1)
	grep -q "^ veilfs_open@VEILFS_0 " <<<"$sym" && ! grep -q "@VEILFS_PRIVATE_" <<<"$(grep '^ veilfs_' <<<"$sym")"
	ok $? "libveilfs0's symbols file: the public API under VEILFS_0" "$sym"
fi
for d in fuse3 libsodium23 libfuse3-3 libc6; do
	[[ ", $alldep," =~ ,\ $d[\ ,] ]]
	ok $? "installing veilfs brings $d (Depends)" "$alldep"
done
list=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
for f in ./usr/bin/veilfs ./usr/share/man/man1/veilfs.1.gz ./usr/share/bash-completion/completions/veilfs \
	./usr/share/zsh/vendor-completions/_veilfs ./usr/lib/systemd/user/veilfs@.service \
	./usr/share/doc/veilfs/copyright ./usr/share/doc/veilfs/changelog.gz; do
	grep -qxF "$f" <<<"$list"
	ok $? "veilfs.deb holds ${f#.}" "$list"
done

lint=$(lintian "$T"/veilfs_"$version"_*.changes 2>&1)
ok $? "lintian on the binary packages exits 0" "$lint"
! grep -q '^E:' <<<"$lint"
ok $? "lintian on the binary packages: no error" "$lint"
[ -n "$lint" ] && printf '%s\n' "$lint" | sed 's/^/# lintian: /'
# The check bites: the same package without its copyright file is an error.
dpkg-deb -R "$deb" "$T/bad" && rm "$T/bad/usr/share/doc/veilfs/copyright" &&
	dpkg-deb -b "$T/bad" "$T/bad.deb" >/dev/null
lint=$(lintian "$T/bad.deb" 2>&1)
grep -q '^E: veilfs: no-copyright-file' <<<"$lint"
ok $? "lintian reports an error on a copy without debian/copyright" "$lint"

out=$(DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	-o DPkg::Lock::Timeout=120 "${debs[@]}" 2>&1)
rc=$?
installed=1
ok $rc "apt-get install ${debs[*]##*/}" "$out"
for p in "${pkgs[@]}"; do
	[ "$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$p" 2>&1)" = "ii  $version" ]
	ok $? "dpkg: $p $version is installed" "$(dpkg-query -W "$p" 2>&1)"
done

v=$(/usr/bin/veilfs --version 2>&1)
[[ $v =~ ^veilfs\ $version\ \(format\ version\ [0-9]+\)$ ]]
ok $? "/usr/bin/veilfs --version: $v" "$v"
[ "$(command -v veilfs)" = /usr/bin/veilfs ] || [ "$(command -v veilfs)" = /bin/veilfs ]
ok $? "veilfs on PATH is the installed one" "$(command -v veilfs)"
m=$(man -w veilfs 2>&1)
[ "$m" = /usr/share/man/man1/veilfs.1.gz ]
ok $? "man -w veilfs: $m" "$m"
if [ -n "$libdeb" ]; then
	# (ldd may name it through /lib, the same directory on a merged /usr)
	r=$(ldd /usr/bin/veilfs 2>&1 | grep libveilfs)
	got=$(sed -n 's/.*=> \([^ ]*\) .*/\1/p' <<<"$r")
	[ -n "$got" ] && [ "$(readlink -f "$got")" = \
		"$(readlink -f "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libveilfs.so.0")" ]
	ok $? "/usr/bin/veilfs loads the installed libveilfs.so.0" "$r"
	pv=$(pkg-config --modversion libveilfs 2>&1)
	[ "$pv" = "$version" ]
	ok $? "pkg-config --modversion libveilfs: $pv" "$pv"
	# shellcheck disable=SC2046
	r=$(cc -std=c17 -Wall -Werror -o "$T/veilfs-read" "$src/examples/veilfs-read.c" \
		$(pkg-config --cflags --libs libveilfs) 2>&1)
	ok $? "examples/veilfs-read.c builds against libveilfs-dev" "$r"
fi
r=$(bash --norc --noprofile -c 'source /usr/share/bash-completion/completions/veilfs && complete -p veilfs' 2>&1)
[[ $r == *"-F _veilfs"*veilfs ]]
ok $? "the installed bash completion loads" "$r"

# A volume, made and mounted by the installed program; the passphrase in a 0600 file.
if [ -c /dev/fuse ]; then
	umask 077
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/pass"
	chmod 600 "$T/pass"
	mkdir "$T/vol" "$T/mnt"
	out=$(/usr/bin/veilfs init --kdf interactive --no-recovery-key --passfile "$T/pass" "$T/vol" 2>&1 </dev/null)
	ok $? "installed veilfs init --passfile (mode 0600)" "$out"
	out=$(/usr/bin/veilfs mount --passfile "$T/pass" "$T/vol" "$T/mnt" 2>&1 </dev/null)
	ok $? "installed veilfs mount --passfile" "$out"
	grep -F " $T/mnt " /proc/self/mountinfo | grep -qF " - fuse.veilfs "
	ok $? "mounted at $T/mnt as fuse.veilfs" "$(grep -F "$T/mnt" /proc/self/mountinfo)"
	echo "from the package" >"$T/mnt/hello.txt" && [ "$(cat "$T/mnt/hello.txt")" = "from the package" ]
	ok $? "a file written and read back through the mount"
	! grep -rqF "from the package" "$T/vol" && ! find "$T/vol" -name 'hello.txt' | grep -q .
	ok $? "neither its name nor its content is in the cipher directory"
	out=$(/usr/bin/veilfs umount "$T/mnt" 2>&1)
	ok $? "installed veilfs umount" "$out"
	! grep -qF " $T/mnt " /proc/self/mountinfo
	ok $? "unmounted"
	out=$(/usr/bin/veilfs cat --passfile "$T/pass" "$T/vol" hello.txt 2>&1 </dev/null)
	[ "$out" = "from the package" ]
	ok $? "the file is there after unmounting (veilfs cat)" "$out"
	if [ -x "$T/veilfs-read" ]; then
		out=$("$T/veilfs-read" --passfile "$T/pass" cat "$T/vol" hello.txt 2>&1 </dev/null)
		[ "$out" = "from the package" ]
		ok $? "the example program, linked with the installed library, reads it" "$out"
	fi
else
	echo "ok $((n += 1)) # SKIP /dev/fuse is missing: no mount with the installed program"
fi

out=$(DEBIAN_FRONTEND=noninteractive apt-get purge -y -o DPkg::Lock::Timeout=120 "${pkgs[@]}" 2>&1)
rc=$?
[ $rc = 0 ] && installed=0
ok $rc "apt-get purge ${pkgs[*]}" "$out"
[ ! -e /usr/bin/veilfs ] && ! command -v veilfs >/dev/null
ok $? "the binary is gone" "$(command -v veilfs)"
left=$(ls -d /usr/share/man/man1/veilfs.1.gz /usr/share/bash-completion/completions/veilfs \
	/usr/share/zsh/vendor-completions/_veilfs /usr/lib/systemd/user/veilfs@.service \
	/usr/share/doc/veilfs /usr/include/veilfs /usr/lib/*/libveilfs.so* \
	/usr/lib/*/pkgconfig/libveilfs.pc 2>/dev/null)
[ -z "$left" ]
ok $? "nothing of the package is left" "$left"
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)
	[ -z "$st" ] || [[ $st == "un "* ]] || [[ $st == "pn "* ]]
	ok $? "dpkg: $p is not installed (status '${st% }')"
done

tap_done
