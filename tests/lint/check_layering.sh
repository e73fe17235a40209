#!/bin/sh
# SPDX-License-Identifier: MIT
# Layering and banned-function lint, as TAP (docs: STYLE.md "A layout that
# shows the architecture"). Usage: check_layering.sh SOURCE_ROOT
#        check_layering.sh --selftest   (checks that the lint itself bites)
set -u

n=0
failed=0

ok() { # ok COND-STATUS DESCRIPTION [OFFENDERS]
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		failed=$((failed + 1))
		# Also on stderr: a failed test never shows an empty stderr.
		echo "not ok $n - $2"
		echo "not ok $n - $2" >&2
		if [ -n "${3:-}" ]; then
			printf '%s\n' "$3" | sed 's/^/# /'
			printf '%s\n' "$3" | sed 's/^/# /' >&2
		fi
	fi
}

# Files under $root matching the find(1) name patterns given.
files() {
	dir=$1
	shift
	[ -d "$root/$dir" ] || return 0
	find "$root/$dir" -type f \( "$@" \) | sort
}

# Lines of files (stdin) that include a header matching ERE $1.
includes() {
	xargs -r grep -HnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($1)" 2>/dev/null
}

# Keep only lines whose file's basename does NOT match the ERE $1.
except_files() {
	awk -F: -v re="$1" '{ f = $1; sub(".*/", "", f); if (f !~ re) print }'
}

lint() {
	root=$1
	csrc=$(files src -name '*.c' -o -name '*.h')
	pub=$(files include -name '*.h')
	core="crypto kdf header keys content names file volume"

	[ -n "$csrc" ]
	ok $? "found sources under $root/src"

	bad=$(printf '%s\n' "$csrc" | includes 'sodium' | except_files '^(crypto|kdf)\.c$')
	[ -z "$bad" ]
	ok $? "only src/crypto.c and src/kdf.c include <sodium.h>" "$bad"

	# The fs layer's private headers (src/fs*.h) may include FUSE too, so
	# nothing outside fs*/mount* may include them either.
	bad=$(printf '%s\n' "$csrc" | includes 'fuse|fs[a-z_]*\.h' |
		except_files '^(fs[^/]*|mount[^/]*)\.[ch]$')
	[ -z "$bad" ]
	ok $? "only src/fs*.c and src/mount*.c include <fuse*.h> (directly or via src/fs*.h)" "$bad"

	bad=$(printf '%s\n' "$pub" | includes 'fuse|sodium')
	[ -z "$bad" ]
	ok $? "no public header under include/ includes fuse or sodium" "$bad"

	bad=$(printf '%s\n' "$pub" | includes '[^>"]' |
		grep -vE '#[[:space:]]*include[[:space:]]*("veilfs/[a-z_]+\.h"|<[a-z/_]+\.h>)' || true)
	[ -z "$bad" ]
	ok $? "public headers include only system headers and veilfs/*.h" "$bad"

	# The FUSE-free core never reaches up into the CLI or the FUSE front end.
	bad=""
	for m in $core; do
		f="$root/src/$m.c"
		[ -f "$f" ] || continue
		b=$(echo "$f" | includes '"?(cli|pass|mount|fs)[a-z_]*\.h')
		[ -n "$b" ] && bad="$bad$b
"
	done
	[ -z "$bad" ]
	ok $? "core modules include no cli/mount/fs header" "$bad"

	# exit() must not be reachable from the mounted daemon's core.
	bad=""
	for m in $core; do
		f="$root/src/$m.c"
		[ -f "$f" ] || continue
		b=$(grep -HnE '(^|[^a-zA-Z0-9_])(exit|_exit|abort)[[:space:]]*\(' "$f" || true)
		[ -n "$b" ] && bad="$bad$b
"
	done
	[ -z "$bad" ]
	ok $? "core modules never call exit()/abort()" "$bad"

	all=$(files src -name '*.c' -o -name '*.h'; files include -name '*.h'; files tests -name '*.c' -o -name '*.h')
	bad=$(printf '%s\n' "$all" | xargs -r grep -HnE \
		'(^|[^a-zA-Z0-9_])(strcpy|strcat|sprintf|vsprintf|gets|atoi)[[:space:]]*\(' || true)
	[ -z "$bad" ]
	ok $? "no strcpy/strcat/sprintf/vsprintf/gets/atoi in src/, include/ or tests/" "$bad"
}

selftest() {
	tmp=$(mktemp -d /tmp/veilfs-lint-XXXXXX) || exit 1
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/src" "$tmp/include/veilfs" "$tmp/tests"
	printf '#include <sodium.h>\n' >"$tmp/src/crypto.c"
	printf '#include <stdio.h>\n' >"$tmp/src/kdf.c"
	printf '#include <fuse_lowlevel.h>\n' >"$tmp/src/fs_ops.c"
	printf '#include <fuse.h>\n#include "fs.h"\n' >"$tmp/src/mount.c"
	printf '#include <fuse_lowlevel.h>\n' >"$tmp/src/fs.h"
	printf '#include <stdint.h>\n#include "veilfs/crypto.h"\n' >"$tmp/include/veilfs/a.h"
	printf 'int f(char *d) { return snprintf(d, 1, "x") + fgets(d, 1, 0) != 0; }\n' \
		>"$tmp/src/names.c"
	out=$(lint "$tmp")
	clean=$(printf '%s\n' "$out" | grep -c '^not ok')
	# Now break every rule once.
	printf '#include <sodium.h>\n' >"$tmp/src/header.c"
	printf '# include "fuse_lowlevel.h"\n' >"$tmp/src/volume.c"
	printf '#include "fs_priv.h"\n' >"$tmp/src/cli.c"
	printf '#include <sodium/utils.h>\n#include "../../src/le.h"\n' >"$tmp/include/veilfs/b.h"
	printf '#include "cli.h"\nvoid g(void) { exit(1); }\n' >"$tmp/src/file.c"
	printf 'void h(char *d) { strcpy(d, "x"); d += atoi(d); }\n' >"$tmp/tests/t.c"
	out=$(lint "$tmp")
	n=0
	failed=0
	[ "$clean" -eq 0 ]
	ok $? "selftest: a clean tree passes"
	for want in 'include <sodium.h>' 'include <fuse' 'public header under include/ includes' \
		'public headers include only' 'core modules include no' 'never call exit' \
		'no strcpy'; do
		printf '%s\n' "$out" | grep -q "^not ok .*$want"
		ok $? "selftest: a violation of \"$want\" is caught"
	done
}

if [ "${1:-}" = "--selftest" ]; then
	selftest
else
	lint "${1:?usage: check_layering.sh SOURCE_ROOT}"
fi
echo "1..$n"
[ "$failed" -eq 0 ]
