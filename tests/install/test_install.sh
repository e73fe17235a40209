#!/bin/bash
# SPDX-License-Identifier: MIT
# 'meson install' into a DESTDIR: the layout (binary, man page, bash and
# zsh completion, systemd user unit, libveilfs with its soname links,
# pkg-config file and one public header, and no internal header), that the
# installed binary runs against the installed library, that a program
# builds against the installed header and .pc and reads a volume, that the
# completions load in bash and zsh and complete, that the unit passes
# 'systemd-analyze verify' (with the installed man page). TAP.
# usage: test_install.sh BUILDDIR
set -u
build=$1
# shellcheck source=../tap.sh
. "$(dirname "$0")/../tap.sh"
need() { command -v "$1" >/dev/null || { echo "test_install.sh: program $1 not found (Debian package $2, in .ci/packages.sh)" >&2; exit 1; }; }
need meson meson
need bash bash
need systemd-analyze systemd
need readelf binutils
need pkg-config pkg-config
need cc gcc
need zsh zsh

T=$(mktemp -d /tmp/veilfs-install.XXXXXX)
trap 'rm -rf "$T"' EXIT
D=$T/dest
out=$(meson install -C "$build" --no-rebuild --destdir "$D" 2>&1)
ok $? "meson install --destdir exits 0" "$out"

opts=$(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
o = {o["name"]: o["value"] for o in json.load(sys.stdin)}
print(o["prefix"], o["libdir"], o["includedir"])')
read -r prefix libdir includedir <<EOF
$opts
EOF
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
case $includedir in /*) ;; *) includedir=$prefix/$includedir ;; esac
ver=$(meson introspect "$build" --projectinfo | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
P=$D$prefix
L=$D$libdir
# zsh: Debian's zsh searches share/zsh/vendor-completions under /usr (a
# package) and share/zsh/site-functions under /usr/local.
if [ "$prefix" = /usr ]; then zshf=share/zsh/vendor-completions/_veilfs; else zshf=share/zsh/site-functions/_veilfs; fi
for f in bin/veilfs share/man/man1/veilfs.1 share/bash-completion/completions/veilfs \
	"$zshf" lib/systemd/user/veilfs@.service; do
	[ -f "$P/$f" ]
	ok $? "installed: $prefix/$f"
done
[ -x "$P/bin/veilfs" ]
ok $? "the binary is executable"

# The library: the real file, the soname link, the development link.
[ -f "$L/libveilfs.so.$ver" ] && [ ! -L "$L/libveilfs.so.$ver" ]
ok $? "installed: $libdir/libveilfs.so.$ver"
[ "$(readlink "$L/libveilfs.so.0")" = "libveilfs.so.$ver" ]
ok $? "installed: $libdir/libveilfs.so.0 -> libveilfs.so.$ver" "$(ls -l "$L" 2>&1)"
[ -L "$L/libveilfs.so" ] && [ "$(readlink -f "$L/libveilfs.so")" = "$(readlink -f "$L/libveilfs.so.$ver")" ]
ok $? "installed: $libdir/libveilfs.so -> the library" "$(ls -l "$L" 2>&1)"
so=$(readelf -d "$L/libveilfs.so.$ver" 2>&1 | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$so" = libveilfs.so.0 ]
ok $? "its soname is libveilfs.so.0" "$so"
[ -f "$L/pkgconfig/libveilfs.pc" ]
ok $? "installed: $libdir/pkgconfig/libveilfs.pc"
[ -f "$D$includedir/veilfs/veilfs.h" ]
ok $? "installed: $includedir/veilfs/veilfs.h"
hdrs=$(cd "$D" && find . -name '*.h' | sed 's|^\.||' | grep -vx "$includedir/veilfs/veilfs.h")
[ -z "$hdrs" ]
ok $? "no other header is installed (the core's own headers stay internal)" "$hdrs"

others=$(cd "$D" && find . ! -type d | sed 's|^\.||' | grep -v -e "^$prefix/bin/veilfs\$" \
	-e "^$prefix/share/man/man1/veilfs.1\$" -e "^$prefix/share/bash-completion/completions/veilfs\$" \
	-e "^$prefix/$zshf\$" -e "^$prefix/lib/systemd/user/veilfs@.service\$" \
	-e "^$libdir/libveilfs\.so\(\.0\|\.$ver\)\?\$" \
	-e "^$libdir/pkgconfig/libveilfs\.pc\$" -e "^$includedir/veilfs/veilfs\.h\$")
[ -z "$others" ]
ok $? "nothing else is installed" "$others"

# The installed program runs against the installed library (the build's
# rpath is dropped on install; the loader is told where the DESTDIR is).
r=$(LD_LIBRARY_PATH=$L ldd "$P/bin/veilfs" 2>&1 | grep libveilfs)
[[ $r == *"=> $L/libveilfs.so.0 "* ]]
ok $? "the installed veilfs loads the installed libveilfs.so.0" "$r"
v=$(LD_LIBRARY_PATH=$L "$P/bin/veilfs" --version)
[[ $v =~ ^veilfs\ [0-9]+\.[0-9]+\.[0-9]+\ \(format\ version\ [0-9]+\)$ ]]
ok $? "installed veilfs --version: $v" "$v"

# A program built from the installed header and .pc alone: the example,
# compiled out of the tree, reads the committed example volume.
src=$(cd "$(dirname "$0")/../.." && pwd)
flags=$(PKG_CONFIG_PATH=$L/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D pkg-config --cflags --libs libveilfs 2>&1)
ok $? "pkg-config --cflags --libs libveilfs (the DESTDIR's .pc): $flags" "$flags"
# shellcheck disable=SC2086
r=$(cd "$T" && cc -std=c17 -Wall -Werror -o "$T/veilfs-read" "$src/examples/veilfs-read.c" $flags 2>&1)
ok $? "examples/veilfs-read.c builds against the installed header and library" "$r"
r=$(LD_LIBRARY_PATH=$L ldd "$T/veilfs-read" 2>&1 | grep libveilfs)
[[ $r == *"=> $L/libveilfs.so.0 "* ]]
ok $? "... and loads the installed library" "$r"
pw=$(sed -n 's/^# passphrase: \([^ ]*\).*/\1/p' "$src/tests/fixtures/v1.manifest")
r=$(printf '%s\n' "$pw" | LD_LIBRARY_PATH=$L "$T/veilfs-read" cat "$src/tests/fixtures/v1" docs/readme.txt |
	sha256sum | cut -d' ' -f1)
want=$(awk -F'\t' '$4 == "docs/readme.txt" { print $3 }' "$src/tests/fixtures/v1.manifest")
[ -n "$want" ] && [ "$r" = "$want" ]
ok $? "... and reads docs/readme.txt of tests/fixtures/v1 exactly" "got $r, want $want"

MANPATH=$P/share/man man -w veilfs >/dev/null 2>&1 || [ ! -x /usr/bin/man ]
ok $? "man finds the installed page (or man is not installed)"

# The completion script in a clean bash: it defines _veilfs for veilfs and completes.
comp() { # comp WORD...: the completions of the last word
	bash --norc --noprofile -c '
		source "$1" || exit 1
		shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_veilfs veilfs "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}"' bash "$P/share/bash-completion/completions/veilfs" "$@"
}
r=$(bash --norc --noprofile -c 'source "$1" && complete -p veilfs' bash \
	"$P/share/bash-completion/completions/veilfs" 2>&1)
[[ $r == *"-F _veilfs"*veilfs ]]
ok $? "the completion loads in bash and registers _veilfs for veilfs" "$r"
r=$(comp veilfs mo)
[ "$r" = mount ]
ok $? "veilfs mo<TAB> completes to mount" "$r"
r=$(comp veilfs um)
[ "$r" = umount ]
ok $? "veilfs um<TAB> completes to umount" "$r"
r=$(comp veilfs mount --id)
[ "$r" = --idle ]
ok $? "veilfs mount --id<TAB> completes to --idle" "$r"
mkdir -p "$T/dir/sub"
touch "$T/dir/sfile"
r=$(cd "$T/dir" && comp veilfs mount s)
[ "$r" = sub ]
ok $? "veilfs mount s<TAB> completes a directory (not the file beside it)" "$r"
r=$(cd "$T/dir" && comp veilfs cat --passfile s)
[ "$(printf '%s\n' "$r" | sort | tr '\n' ' ')" = "sfile sub " ]
ok $? "veilfs cat --passfile s<TAB> completes files" "$r"
r=$(comp veilfs init --kdf '')
[ "$(printf '%s\n' "$r" | tr '\n' ' ')" = "interactive moderate sensitive " ]
ok $? "veilfs init --kdf <TAB> offers the KDF profiles" "$r"
r=$(comp veilfs mount --idle '')
[ -z "$r" ]
ok $? "veilfs mount --idle <TAB> offers nothing (a duration)" "$r"

# The zsh completion: it parses, declares itself for veilfs (#compdef), and
# completes in an interactive zsh that found it on its fpath.
Z=$P/$zshf
r=$(zsh -n "$Z" 2>&1)
ok $? "zsh -n: the zsh completion parses" "$r"
[ "$(head -n 1 "$Z")" = "#compdef veilfs" ]
ok $? "the zsh completion starts with #compdef veilfs"
r=$(zsh -f -c 'fpath=("$1" $fpath); autoload -U compinit; compinit -u -D; print -r -- $_comps[veilfs]' \
	zsh "$(dirname "$Z")" 2>&1)
[ "$r" = _veilfs ]
ok $? "compinit in zsh finds it and binds _veilfs to veilfs" "$r"
zres=$(cd "$T/dir" && timeout 60 zsh -f "$(dirname "$0")/zsh_complete.zsh" "$(dirname "$Z")" "$T/dir" \
	'veilfs mo' 'veilfs mount --id' 'veilfs init --kdf sen' 'veilfs key a' 'veilfs mount s' \
	'veilfs export --own' 'veilfs info --conf' 2>&1)
ok $? "an interactive zsh completes seven lines" "$zres"
zline() { sed -n "$1p" <<<"$zres"; }
[ "$(zline 1)" = "veilfs mount" ]
ok $? "zsh: veilfs mo<TAB> completes to mount" "$(zline 1)"
[ "$(zline 2)" = "veilfs mount --idle" ]
ok $? "zsh: veilfs mount --id<TAB> completes to --idle" "$(zline 2)"
[ "$(zline 3)" = "veilfs init --kdf sensitive" ]
ok $? "zsh: veilfs init --kdf sen<TAB> completes the KDF profile" "$(zline 3)"
[ "$(zline 4)" = "veilfs key add" ]
ok $? "zsh: veilfs key a<TAB> completes to add" "$(zline 4)"
[ "$(zline 5)" = "veilfs mount sub/" ] || [ "$(zline 5)" = "veilfs mount sub" ]
ok $? "zsh: veilfs mount s<TAB> completes the directory, not the file beside it" "$(zline 5)"
[ "$(zline 6)" = "veilfs export --owners" ]
ok $? "zsh: veilfs export --own<TAB> completes to --owners" "$(zline 6)"
[ "$(zline 7)" = "veilfs info --config" ]
ok $? "zsh: veilfs info --conf<TAB> completes to --config" "$(zline 7)"

# The unit, its ExecStart pointed at the installed binary, as systemd would load it.
mkdir -p "$T/units" "$T/xdg"
chmod 700 "$T/xdg"
sed "s|$prefix/bin/veilfs|$P/bin/veilfs|" "$P/lib/systemd/user/veilfs@.service" \
	>"$T/units/veilfs@data.service"
grep -q "^ExecStart=$P/bin/veilfs mount -f " "$T/units/veilfs@data.service"
ok $? "the unit runs the installed binary in the foreground"
r=$(cd "$T" && XDG_RUNTIME_DIR=$T/xdg MANPATH=$P/share/man \
	systemd-analyze verify --user "$T/units/veilfs@data.service" 2>&1)
ok $? "systemd-analyze verify --user veilfs@data.service exits 0" "$r"
[ -z "$r" ]
ok $? "systemd-analyze verify says nothing" "$r"
# The check bites: a wrong service type is reported.
sed 's/^Type=notify/Type=notifyy/' "$T/units/veilfs@data.service" >"$T/veilfs@bad.service"
r=$(cd "$T" && XDG_RUNTIME_DIR=$T/xdg MANPATH=$P/share/man \
	systemd-analyze verify --user "$T/veilfs@bad.service" 2>&1)
[ -n "$r" ]
ok $? "systemd-analyze verify reports a broken copy" "$r"

tap_done
