#!/bin/sh
# SPDX-License-Identifier: MIT
# Layering and banned-function lint, as TAP (docs: STYLE.md "A layout that
# shows the architecture"). Usage: check_layering.sh SOURCE_ROOT
#        check_layering.sh --selftest   (checks that the lint itself bites)
set -u

# ok and tap_done (the one TAP helper of the shell tests).
. "$(dirname "$0")/../tap.sh"

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

# Quoted includes (file:line:text) of stdin's files, one per line.
quoted() {
	xargs -r grep -HnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' 2>/dev/null
}

# Keep the lines (file:line:text) whose quoted include does NOT name an
# existing file of directory $1 (by its bare name) or match ERE $2.
not_local() {
	awk -F: -v dir="$1" -v ok="$2" '{
		t = $0; sub(/^[^:]*:[^:]*:/, "", t)
		h = t; sub(/^[^"]*"/, "", h); sub(/".*$/, "", h)
		if (ok != "" && h ~ ok) next
		if (h !~ /\// && system("test -f \"" dir "/" h "\"") == 0) next
		print
	}'
}

lint() {
	root=$1
	lib=$(files src/lib -name '*.c' -o -name '*.h')
	fs=$(files src/fs -name '*.c' -o -name '*.h')
	cli=$(files src/cli -name '*.c' -o -name '*.h')
	csrc=$(files src -name '*.c' -o -name '*.h')
	pub=$(files include -name '*.h')

	[ -n "$lib" ] && [ -n "$fs" ] && [ -n "$cli" ]
	ok $? "found sources under $root/src/lib, src/fs and src/cli"

	bad=$(printf '%s\n' "$csrc" | grep -vE '/src/(lib|fs|cli)/[^/]+$' || true)
	[ -z "$bad" ]
	ok $? "every source file lives in src/lib, src/fs or src/cli" "$bad"

	bad=$(printf '%s\n' "$csrc" | includes 'sodium' | grep -vE '^[^:]*/src/lib/(crypto|kdf)\.c:' || true)
	[ -z "$bad" ]
	ok $? "only src/lib/crypto.c and src/lib/kdf.c include <sodium.h>" "$bad"

	# The headers of src/fs that bring FUSE in, directly or through another
	# one; nothing outside src/fs may include those either.
	fuseh=$(printf '%s\n' "$fs" | grep '\.h$' | includes 'fuse' | cut -d: -f1 | sort -u |
		sed 's|.*/||')
	while :; do
		re=$(printf '%s\n' $fuseh | sed 's/\./\\./' | paste -sd'|' -)
		[ -n "$re" ] || break
		more=$(printf '%s\n' "$fs" | grep '\.h$' | includes "($re)\"" | cut -d: -f1 |
			sed 's|.*/||' | sort -u)
		all=$(printf '%s\n' $fuseh $more | sort -u)
		[ "$all" = "$(printf '%s\n' $fuseh | sort -u)" ] && break
		fuseh=$all
	done
	re=$(printf '%s\n' $fuseh | sed 's/\./\\./' | paste -sd'|' -)
	bad=$(printf '%s\n' "$lib" "$cli" | includes "fuse${re:+|fs/($re)}")
	[ -z "$bad" ]
	ok $? "only src/fs includes <fuse*.h> (directly or via an src/fs header)" "$bad"

	# The library is self-contained: its quoted includes name its own
	# headers (or the public veilfs/*.h), never src/fs or src/cli.
	bad=$(printf '%s\n' "$lib" | quoted | not_local "$root/src/lib" '^veilfs/[a-z_]+\.h$')
	[ -z "$bad" ]
	ok $? "src/lib includes nothing from src/fs or src/cli" "$bad"

	# The FUSE front end uses the library, never the command line; the one
	# exception is src/fs/mount.c, the body of "veilfs mount"/"umount",
	# which takes the parsed options and the passphrase helpers of cli.h.
	bad=$(printf '%s\n' "$fs" | quoted | not_local "$root/src/fs" '^(lib/[a-z_]+|veilfs/[a-z_]+)\.h$' |
		grep -vE '^[^:]*/src/fs/mount\.c:[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]*"cli/cli\.h"' || true)
	[ -z "$bad" ]
	ok $? "src/fs includes nothing from src/cli (but mount.c's cli/cli.h)" "$bad"

	bad=$(printf '%s\n' "$pub" | includes 'fuse|sodium')
	[ -z "$bad" ]
	ok $? "no public header under include/ includes fuse or sodium" "$bad"

	bad=$(printf '%s\n' "$pub" | includes '[^>"]' |
		grep -vE '#[[:space:]]*include[[:space:]]*("veilfs/[a-z_]+\.h"|<[a-z/_]+\.h>)' || true)
	[ -z "$bad" ]
	ok $? "public headers include only system headers and veilfs/*.h" "$bad"

	# exit() must not be reachable from the library (the mounted daemon and
	# any program linking libveilfs run it).
	bad=$(printf '%s\n' "$lib" | xargs -r grep -HnE '(^|[^a-zA-Z0-9_])(exit|_exit|abort)[[:space:]]*\(' || true)
	[ -z "$bad" ]
	ok $? "src/lib never calls exit()/abort()" "$bad"

	all=$(files src -name '*.c' -o -name '*.h'; files include -name '*.h'; files tests -name '*.c' -o -name '*.h'
		files examples -name '*.c' -o -name '*.h')
	bad=$(printf '%s\n' "$all" | xargs -r grep -HnE \
		'(^|[^a-zA-Z0-9_])(strcpy|strcat|sprintf|vsprintf|gets|atoi)[[:space:]]*\(' || true)
	[ -z "$bad" ]
	ok $? "no strcpy/strcat/sprintf/vsprintf/gets/atoi in src/, include/, tests/ or examples/" "$bad"
}

selftest() {
	tmp=$(mktemp -d /tmp/veilfs-lint-XXXXXX) || exit 1
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/src/lib" "$tmp/src/fs" "$tmp/src/cli" "$tmp/include/veilfs" "$tmp/tests"
	printf '#include <sodium.h>\n#include "crypto.h"\n' >"$tmp/src/lib/crypto.c"
	printf '#include <stdint.h>\n' >"$tmp/src/lib/crypto.h"
	printf '#include <stdio.h>\n#include "veilfs/veilfs.h"\n' >"$tmp/src/lib/kdf.c"
	printf '#include <fuse_lowlevel.h>\n#include "fs.h"\n#include "lib/crypto.h"\n' >"$tmp/src/fs/fs_ops.c"
	printf '#include <fuse.h>\n#include "fs.h"\n#include "cli/cli.h"\n' >"$tmp/src/fs/mount.c"
	printf '#include <fuse_lowlevel.h>\n' >"$tmp/src/fs/fs.h"
	printf '#include "fs.h"\n' >"$tmp/src/fs/fs_priv.h"
	printf '#include <stdbool.h>\n' >"$tmp/src/fs/mountopts.h"
	printf '#include "cli.h"\n#include "fs/mountopts.h"\n#include "lib/crypto.h"\n' >"$tmp/src/cli/main.c"
	printf '#include <stdio.h>\n' >"$tmp/src/cli/cli.h"
	printf '#include <stdint.h>\n#include "veilfs/other.h"\n' >"$tmp/include/veilfs/a.h"
	printf 'int f(char *d) { return snprintf(d, 1, "x") + fgets(d, 1, 0) != 0; }\n' \
		>"$tmp/src/lib/names.c"
	out=$(lint "$tmp")
	clean=$(printf '%s\n' "$out" | grep -c '^not ok')
	printf '%s\n' "$out" | grep '^not ok' | sed 's/^/# clean tree: /'
	# Now break every rule once.
	printf 'int x;\n' >"$tmp/src/stray.c"
	printf '#include <sodium.h>\n' >"$tmp/src/lib/header.c"
	printf '#include "fs/fs_priv.h"\n' >"$tmp/src/cli/pass.c"
	printf '#include "../fs/mountopts.h"\n' >"$tmp/src/lib/volume.c"
	printf '#include "cli/cli.h"\n' >"$tmp/src/fs/fs_io.c"
	printf '#include <sodium/utils.h>\n#include "../../src/lib/le.h"\n' >"$tmp/include/veilfs/b.h"
	printf 'void g(void) { exit(1); }\n' >"$tmp/src/lib/file.c"
	printf 'void h(char *d) { strcpy(d, "x"); d += atoi(d); }\n' >"$tmp/tests/t.c"
	out=$(lint "$tmp")
	n=0
	failed=0
	[ "$clean" -eq 0 ]
	ok $? "selftest: a clean tree passes"
	for want in 'lives in src/lib' 'include <sodium.h>' 'includes <fuse' 'src/lib includes nothing' \
		'src/fs includes nothing' 'public header under include/ includes' \
		'public headers include only' 'never calls exit' 'no strcpy'; do
		printf '%s\n' "$out" | grep -q "^not ok .*$want"
		ok $? "selftest: a violation of \"$want\" is caught"
	done
	# Each rule bites on its own offender, not on the others': a fuse
	# header reached through fs_priv.h from src/cli, and an src/fs file
	# including cli.h by bare name, each alone in an otherwise clean tree.
	rm -f "$tmp/src/stray.c" "$tmp/src/lib/header.c" "$tmp/src/cli/pass.c" "$tmp/src/lib/volume.c" \
		"$tmp/src/fs/fs_io.c" "$tmp/include/veilfs/b.h" "$tmp/src/lib/file.c" "$tmp/tests/t.c"
	printf '#include "fs/fs_priv.h"\n' >"$tmp/src/cli/pass.c"
	out=$(lint "$tmp")
	[ "$(printf '%s\n' "$out" | grep -c '^not ok')" -eq 1 ] &&
		printf '%s\n' "$out" | grep -q '^not ok .*includes <fuse'
	ok $? "selftest: an src/fs header that includes FUSE indirectly is caught outside src/fs"
	rm -f "$tmp/src/cli/pass.c"
	printf '#include "cli.h"\n' >"$tmp/src/fs/fs_io.c"
	out=$(lint "$tmp")
	[ "$(printf '%s\n' "$out" | grep -c '^not ok')" -eq 1 ] &&
		printf '%s\n' "$out" | grep -q '^not ok .*src/fs includes nothing'
	ok $? "selftest: src/fs including a cli header by bare name is caught"
}

if [ "${1:-}" = "--selftest" ]; then
	selftest
else
	lint "${1:?usage: check_layering.sh SOURCE_ROOT}"
fi
tap_done
