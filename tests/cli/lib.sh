# SPDX-License-Identifier: MIT
# Shared helpers of the CLI tests: TAP output, running veilfs with its
# output captured, header surgery. Sourced by every tests/cli/*.sh script.
#
# Each script is run as: bash SCRIPT VEILFS FIXTURES_DIR
# It prints TAP ("ok N - ...", then "1..N"); the TAP lines carry the verdict.

set -u

VEILFS=${1:?usage: bash SCRIPT VEILFS FIXTURES_DIR}
FIXTURES=${2:?usage: bash SCRIPT VEILFS FIXTURES_DIR}
case $VEILFS in /*) ;; *) VEILFS=$PWD/$VEILFS ;; esac
case $FIXTURES in /*) ;; *) FIXTURES=$PWD/$FIXTURES ;; esac

T=$(mktemp -d "${TMPDIR:-/tmp}/veilfs-cli.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
cd "$T" || exit 1

OUT=$T/.out    # stdout of the last run
ERR=$T/.err    # stderr of the last run
ALL=$T/.all    # everything any run printed, for the secrets check
RC=0           # exit code of the last run
: >"$ALL"

# Every passphrase a script uses; none may ever appear in any output.
SECRETS=()

T_N=0
T_FAILED=0
T_LAST_FAILED=0

# A failed point and the comments that follow it go to stderr as well, so
# a failed test never shows an empty stderr in meson's error log.
ok() {
	T_N=$((T_N + 1))
	T_LAST_FAILED=0
	echo "ok $T_N - $*"
}

not_ok() {
	T_N=$((T_N + 1))
	T_FAILED=$((T_FAILED + 1))
	T_LAST_FAILED=1
	echo "not ok $T_N - $*"
	echo "not ok $T_N - $*" >&2
}

# comment: stdin as TAP comments
comment() {
	local c
	c=$(sed 's/^/# /')
	[ -n "$c" ] || return 0
	printf '%s\n' "$c"
	[ "$T_LAST_FAILED" = 1 ] && printf '%s\n' "$c" >&2
	return 0
}

# diag LINE...: a TAP comment (shows the context of a failure)
diag() {
	printf '%s\n' "$@" | comment
}

# show_run: the last run's exit code and output as TAP comments
show_run() {
	diag "exit code: $RC"
	sed 's/^/stdout: /' "$OUT" | head -20 | comment
	sed 's/^/stderr: /' "$ERR" | head -20 | comment
}

# check DESC CMD...: one test point, passing when CMD succeeds
check() {
	local desc=$1
	shift
	if "$@"; then
		ok "$desc"
	else
		not_ok "$desc"
		show_run
	fi
}

done_testing() {
	local s
	for s in "${SECRETS[@]}"; do
		if grep -qF -- "$s" "$ALL"; then
			not_ok "no passphrase appears in any output ($T_N checks so far)"
			grep -nF -- "$s" "$ALL" | head -5 | sed 's/^/leaked: /' | comment
			echo "1..$T_N"
			exit 0
		fi
	done
	ok "no passphrase appears in any output"
	echo "1..$T_N"
	# The TAP lines carry the verdict (meson: FAIL); a non-zero exit would
	# be reported as a harness ERROR instead.
	if [ "$T_FAILED" -ne 0 ]; then
		echo "# $T_FAILED of $T_N checks failed"
		echo "# $T_FAILED of $T_N checks failed" >&2
	fi
	exit 0
}

# secret VAR PASS: remember a passphrase, write "PASS\n" to a file and set
# VAR to its path (callers use it as stdin, --passfile or in --extpass)
secret() {
	SECRETS+=("$2")
	local f=$T/.pass.${#SECRETS[@]}
	printf '%s\n' "$2" >"$f"
	chmod 600 "$f" # --passfile refuses a file others can read
	printf -v "$1" '%s' "$f"
}

# vrun STDIN ARGS...: run veilfs with stdin from the file STDIN, capture output
vrun() {
	local in=$1
	shift
	"$VEILFS" "$@" <"$in" >"$OUT" 2>"$ERR"
	RC=$?
	cat "$OUT" "$ERR" >>"$ALL"
	return 0
}

rc_is() { [ "$RC" -eq "$1" ]; }
no_stderr() { [ ! -s "$ERR" ]; }
no_stdout() { [ ! -s "$OUT" ]; }
# exactly one line, newline-terminated, starting with "veilfs: "
one_line_err() {
	[ "$(wc -l <"$ERR")" -eq 1 ] && [ "$(tail -c 1 "$ERR" | od -An -c | tr -d ' ')" = '\n' ] &&
		head -c 8 "$ERR" | grep -qx 'veilfs: '
}
err_has() { grep -qF -- "$1" "$ERR"; }
out_has() { grep -qF -- "$1" "$OUT"; }
out_line() { grep -qxF -- "$1" "$OUT"; }

# expect_fail DESC CODE STDIN ARGS...: the run exits CODE with one line on
# stderr and nothing on stdout (three test points)
expect_fail() {
	local desc=$1 code=$2
	shift 2
	vrun "$@"
	check "$desc: exits $code" rc_is "$code"
	check "$desc: one line on stderr" one_line_err
	check "$desc: nothing on stdout" no_stdout
}

# tree_sum DIR: a digest of every name, type, size and content under DIR
tree_sum() {
	(cd "$1" && find . -printf '%y %s %p\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum
}

same_sum() { [ "$(tree_sum "$1")" = "$2" ]; }

# fixture NAME: a writable copy of tests/fixtures/NAME in $T/NAME
fixture() {
	cp -R "$FIXTURES/$1" "$T/$1" && chmod -R u+w "$T/$1"
}

# hdr_patch FILE OFFSET HEX: overwrite bytes at OFFSET with HEX, then fix
# the trailing BLAKE2b-256 checksum so only the intended change is seen
hdr_patch() {
	chmod u+w "$1"
	python3 - "$1" "$2" "$3" <<'PY'
import hashlib, sys
path, off, new = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
b = bytearray(open(path, "rb").read())
b[off:off + len(new)] = new
b[-32:] = hashlib.blake2b(bytes(b[:-32]), digest_size=32).digest()
open(path, "wb").write(b)
PY
}

# flip FILE OFFSET: xor one byte with 0x01 (no checksum fix-up)
flip() {
	chmod u+w "$1"
	python3 - "$1" "$2" <<'PY'
import sys
path, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(path, "rb").read())
b[off] ^= 0x01
open(path, "wb").write(b)
PY
}

# manifest_files: "SIZE<TAB>SHA256<TAB>PATH" for every file of the v1 manifest
manifest_files() {
	grep -v '^#' "$FIXTURES/v1.manifest" | awk -F '\t' '$1 == "f" { print $2 "\t" $3 "\t" $4 }'
}

# out_sha_is SUM: the last run exited 0 and its stdout has SHA-256 SUM
out_sha_is() { [ "$RC" = 0 ] && [ "$(sha256sum <"$OUT" | cut -d' ' -f1)" = "$1" ]; }

# none_exist PATH...: none of the paths exists
none_exist() {
	local p
	for p in "$@"; do
		[ ! -e "$p" ] || return 1
	done
}

# not CMD...: succeeds when CMD fails (for use with check)
not() { ! "$@"; }
