#!/bin/sh
# SPDX-License-Identifier: MIT
# What libveilfs.so exports (docs/libveilfs.md, "Versions and symbols"), as
# TAP: its soname; VEILFS_0 holds exactly the functions the public header
# declares; every other exported symbol is an internal veil_* one under
# VEILFS_PRIVATE_<release>; nothing else leaks out (no FUSE, no libsodium,
# no unversioned symbol).
# usage: check_symbols.sh LIBVEILFS.so PUBLIC-HEADER RELEASE
set -u
lib=$1
hdr=$2
rel=$3
# shellcheck source=../tap.sh
. "$(dirname "$0")/../tap.sh"
command -v readelf >/dev/null || { echo "check_symbols.sh: readelf not found (Debian package binutils)" >&2; exit 1; }

so=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$so" = libveilfs.so.0 ]
ok $? "soname is libveilfs.so.0" "$so"

# Defined dynamic symbols as NAME@VERSION (readelf --dyn-syms -W: column 8 is
# the name), and the two version nodes themselves (bare names).
syms=$(readelf --dyn-syms -W "$lib" | awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" && $8 != "" { print $8 }' |
	sed 's/@@*/@/' | sort -u)
[ -n "$syms" ]
ok $? "the library exports symbols"

pub=$(printf '%s\n' "$syms" | sed -n 's/@VEILFS_0$//p' | grep -v '^VEILFS_0$' | sort)
decl=$(sed -n 's/.*[^a-z_]\(veilfs_[a-z_]*\)(.*/\1/p' "$hdr" | sort -u)
[ -n "$decl" ] && [ "$pub" = "$decl" ]
ok $? "VEILFS_0 holds exactly the $(printf '%s\n' "$decl" | wc -l) functions of the public header" \
	"$(printf 'exported:\n%s\ndeclared:\n%s' "$pub" "$decl")"

bad=$(printf '%s\n' "$syms" | grep -v -e '^veilfs_[a-z0-9_]*@VEILFS_0$' \
	-e "^veil_[a-z0-9_]*@VEILFS_PRIVATE_$rel\$" -e '^VEILFS_0$' -e "^VEILFS_PRIVATE_$rel\$" || true)
[ -z "$bad" ]
ok $? "every other export is veil_*@VEILFS_PRIVATE_$rel" "$bad"

priv=$(printf '%s\n' "$syms" | grep -c "^veil_.*@VEILFS_PRIVATE_$rel\$")
[ "$priv" -gt 0 ]
ok $? "the internal functions the veilfs program needs are exported privately ($priv)"

# The library's calls to its own functions bind inside it (linked with
# -Bsymbolic-functions): no PLT slot, so a program defining a veil_* or
# veilfs_* function of its own cannot replace the library's.
plt=$(readelf -r -W "$lib" | awk '$3 ~ /JUMP_SLOT|GLOB_DAT/ && $5 ~ /^veil/ { print $3, $5 }')
[ -z "$plt" ]
ok $? "no JUMP_SLOT or GLOB_DAT relocation names a veil_* or veilfs_* function" "$plt"

tap_done
