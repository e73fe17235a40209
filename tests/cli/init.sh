# SPDX-License-Identifier: MIT
# veilfs init: passphrase sources, profiles, --config, and every refusal
# leaving the disk as it was.
. "$(dirname "$0")/lib.sh"

secret P 'init-Pass-phrase 7#x'
secret P2 'other-passphrase-93b'
EMPTY=$T/.empty-line
printf '\n' >"$EMPTY"

# --- stdin -----------------------------------------------------------------
vrun "$P" init --kdf interactive "$T/a"
check "init from stdin exits 0" rc_is 0
check "init from stdin: nothing on stderr" no_stderr
check "init from stdin: says what it created" out_has "created veilfs volume in $T/a"
check "init writes veilfs.conf (440 bytes: passphrase and recovery slot with the info table)" \
	[ "$(stat -c %s "$T/a/veilfs.conf")" = 440 ]
check "init writes the root dir IV (16 bytes)" [ "$(stat -c %s "$T/a/veilfs.diriv")" = 16 ]
check "init leaves only the header and dir IV" \
	[ "$(find "$T/a" -mindepth 1 -printf '%P\n' | LC_ALL=C sort | tr '\n' ' ')" = "veilfs.conf veilfs.diriv " ]
vrun "$P" ls "$T/a"
check "the new volume opens with the passphrase (ls exits 0)" rc_is 0
check "the new volume is empty" no_stdout
vrun "$P2" ls "$T/a"
check "the new volume refuses another passphrase (5)" rc_is 5

# --- --passfile --------------------------------------------------------------
vrun /dev/null init --kdf interactive --passfile "$P" "$T/b"
check "init --passfile exits 0" rc_is 0
vrun /dev/null ls --passfile "$P" "$T/b"
check "volume made with --passfile opens with --passfile" rc_is 0
vrun "$P" ls "$T/b"
check "volume made with --passfile opens from stdin" rc_is 0
expect_fail "init --passfile with a missing file" 2 /dev/null \
	init --kdf interactive --passfile "$T/no-such-file" "$T/b2"
check "init --passfile with a missing file creates nothing" [ ! -e "$T/b2" ]
expect_fail "init --passfile with an empty file" 2 /dev/null \
	init --kdf interactive --passfile "$EMPTY" "$T/b3"

# --- --extpass ---------------------------------------------------------------
vrun /dev/null init --kdf interactive --extpass "cat $P" "$T/c"
check "init --extpass exits 0" rc_is 0
vrun "$P" ls "$T/c"
check "volume made with --extpass opens from stdin" rc_is 0
vrun /dev/null ls --extpass "cat $P" "$T/c"
check "volume made with --extpass opens with --extpass" rc_is 0
expect_fail "init --extpass with a failing command" 2 /dev/null \
	init --kdf interactive --extpass "exit 3" "$T/c2"
check "init --extpass with a failing command creates nothing" [ ! -e "$T/c2" ]
expect_fail "--passfile and --extpass together" 2 /dev/null \
	init --kdf interactive --passfile "$P" --extpass "cat $P" "$T/c3"

# --- line endings (format.md §4) -------------------------------------------------
# The passphrase is its first line without the LF, then without one CR if
# it ends in one; the same rule for stdin, --passfile and --extpass.
pw='init-Pass-phrase 7#x'   # the passphrase of $T/a (secret P)
printf '%s\r\n' "$pw" >"$T/.crlf"
printf '%s' "$pw" >"$T/.nolf"
printf '%s\r' "$pw" >"$T/.cr-eof"
printf '%s\r\r\n' "$pw" >"$T/.crcrlf"
printf '%s \n' "$pw" >"$T/.space"
printf '%s\nsecond line\n' "$pw" >"$T/.twolines"
chmod 600 "$T"/.crlf "$T"/.nolf "$T"/.cr-eof "$T"/.crcrlf "$T"/.space "$T"/.twolines

# --passfile refuses a file other users may read or write (it stays a secret)
for mode in 644 604 640 620 602; do
	chmod "$mode" "$T/.crlf"
	vrun /dev/null ls --passfile "$T/.crlf" "$T/a"
	check "--passfile refuses a file of mode $mode (exit 2)" rc_is 2
	check "--passfile mode $mode: one line that says why" \
		grep -qx "veilfs: passphrase file $T/.crlf may be read or written by other users: .*chmod 600 $T/.crlf)" "$ERR"
done
chmod 600 "$T/.crlf"
if [ "$(id -u)" = 0 ]; then
	chown 65534 "$T/.crlf"
	vrun /dev/null ls --passfile "$T/.crlf" "$T/a"
	check "--passfile refuses a file another user owns (exit 2)" rc_is 2
	chown 0 "$T/.crlf"
fi
vrun "$T/.crlf" ls "$T/a"
check "stdin: a CRLF line ending is stripped (ls exits 0)" rc_is 0
vrun /dev/null ls --passfile "$T/.crlf" "$T/a"
check "--passfile: a CRLF line ending is stripped" rc_is 0
vrun /dev/null ls --extpass "cat $T/.crlf" "$T/a"
check "--extpass: a CRLF line ending is stripped" rc_is 0
vrun /dev/null ls --passfile "$T/.nolf" "$T/a"
check "--passfile: a last line without LF is the passphrase" rc_is 0
vrun "$T/.nolf" ls "$T/a"
check "stdin: a last line without LF is the passphrase" rc_is 0
vrun /dev/null ls --passfile "$T/.cr-eof" "$T/a"
check "--passfile: a CR before end of file is stripped" rc_is 0
vrun /dev/null ls --passfile "$T/.twolines" "$T/a"
check "--passfile: only the first line counts" rc_is 0
vrun /dev/null ls --passfile "$T/.crcrlf" "$T/a"
check "--passfile: only one CR is stripped (CR CR LF: wrong passphrase, 5)" rc_is 5
vrun "$T/.crcrlf" ls "$T/a"
check "stdin: only one CR is stripped (5)" rc_is 5
vrun /dev/null ls --extpass "cat $T/.crcrlf" "$T/a"
check "--extpass: only one CR is stripped (5)" rc_is 5
vrun /dev/null ls --passfile "$T/.space" "$T/a"
check "--passfile: a trailing space is part of the passphrase (5)" rc_is 5

# --- profiles ----------------------------------------------------------------
vrun /dev/null info "$T/a"
check "--kdf interactive: info shows opslimit=2 memlimit=64 MiB" \
	out_has "slot 0: argon2id opslimit=2 memlimit=64 MiB"
vrun "$P" init "$T/d"
check "init with the default profile exits 0" rc_is 0
check "init with the default profile reports moderate" out_has "KDF moderate"
vrun /dev/null info "$T/d"
check "default profile: info shows opslimit=3 memlimit=256 MiB" \
	out_has "slot 0: argon2id opslimit=3 memlimit=256 MiB"
expect_fail "unknown KDF profile" 2 "$P" init --kdf turbo "$T/e"
check "unknown KDF profile creates nothing" [ ! -e "$T/e" ]

# --- --config elsewhere ------------------------------------------------------
mkdir "$T/keys"
vrun "$P" init --kdf interactive --config "$T/keys/vol.conf" "$T/f"
check "init --config exits 0" rc_is 0
check "init --config writes the header to FILE" [ -s "$T/keys/vol.conf" ]
check "init --config writes no header into CIPHERDIR" [ ! -e "$T/f/veilfs.conf" ]
check "init --config still writes the root dir IV" [ -s "$T/f/veilfs.diriv" ]
vrun "$P" ls --config "$T/keys/vol.conf" "$T/f"
check "ls --config opens it" rc_is 0
expect_fail "ls without --config on a separate-header volume" 3 "$P" ls "$T/f"
vrun /dev/null info --config "$T/keys/vol.conf" "$T/f"
check "info --config reads the separate header" out_has "format version: 1"
vrun "$P" init --kdf interactive --config vol2.conf "$T/f2"
check "init --config with a relative FILE exits 0" rc_is 0
check "init --config with a relative FILE writes it in the working directory" \
	[ -s "$T/vol2.conf" ]

# --- refusals leave everything as it was -------------------------------------
mkdir "$T/full"
echo "precious data" >"$T/full/note.txt"
mkdir "$T/full/sub"
before=$(tree_sum "$T/full")
expect_fail "init in a non-empty directory" 2 "$P" init --kdf interactive "$T/full"
check "init in a non-empty directory leaves it untouched" same_sum "$T/full" "$before"

before=$(tree_sum "$T/a")
expect_fail "init over an existing volume" 2 "$P" init --kdf interactive "$T/a"
check "init over an existing volume leaves it untouched" same_sum "$T/a" "$before"

echo "not a header" >"$T/keys/existing.conf"
before=$(tree_sum "$T/keys")
expect_fail "init --config over an existing file" 2 "$P" \
	init --kdf interactive --config "$T/keys/existing.conf" "$T/g"
check "init --config over an existing file leaves it untouched" same_sum "$T/keys" "$before"
check "init --config over an existing file removes the CIPHERDIR it made" [ ! -e "$T/g" ]

expect_fail "init --config into a missing directory" 1 "$P" \
	init --kdf interactive --config "$T/no-such-dir/vol.conf" "$T/h"
check "a failed init removes the CIPHERDIR it made" [ ! -e "$T/h" ]

mkdir "$T/i"
expect_fail "empty passphrase from stdin" 2 "$EMPTY" init --kdf interactive "$T/i"
check "empty passphrase: the existing empty directory stays empty" [ -z "$(ls -A "$T/i")" ]
expect_fail "no passphrase at all on stdin" 2 /dev/null init --kdf interactive "$T/i"
check "no passphrase: the directory stays empty" [ -z "$(ls -A "$T/i")" ]
expect_fail "empty passphrase, new directory" 2 "$EMPTY" init --kdf interactive "$T/j"
check "empty passphrase: the new directory is not left behind" [ ! -e "$T/j" ]

touch "$T/plainfile"
expect_fail "init on a regular file" 1 "$P" init --kdf interactive "$T/plainfile"
check "init on a regular file leaves it a regular file" [ -f "$T/plainfile" ]

done_testing
