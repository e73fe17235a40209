# SPDX-License-Identifier: MIT
# Key slots and the recovery key: key list/add/remove on a populated volume
# (the v1 fixture), the recovery key wherever a passphrase is asked, init's
# recovery key options, and veilfs recover after the header is deleted or
# overwritten with random bytes.
. "$(dirname "$0")/lib.sh"

secret P1 'veilfs-fixture-v1'
secret P2 'second-passphrase-7a1c'
secret P3 'third passphrase 09f3'
secret PN 'the-recovered-one-55e1'
lines() { printf '%s\n' "$@" >"$T/.lines"; }

# every manifest file decrypts with the secret in file $1 to its SHA-256
all_decrypt() {
	local bad=0 _size sum path
	while IFS=$'\t' read -r _size sum path; do
		vrun "$1" cat "$V" "$path"
		if [ "$RC" -ne 0 ] || [ "$(sha256sum <"$OUT" | cut -d' ' -f1)" != "$sum" ]; then
			bad=$((bad + 1))
			diag "cat $path: exit $RC"
		fi
	done < <(manifest_files)
	[ "$bad" = 0 ]
}
# the recovery key on the last run's stdout (the indented line)
rk_of_output() { grep -E '^    [0-9A-Z]{5}(-[0-9A-Z]{5}){15}$' "$OUT" | tr -d ' '; }

fixture v1
V=$T/v1
conf=$V/veilfs.conf

vrun /dev/null key list "$V"
check "key list on the v1 fixture exits 0 without a passphrase" rc_is 0
check "key list: one line for the one slot" [ "$(wc -l <"$OUT")" = 1 ]
check "key list: slot 0 is a passphrase slot with its KDF, no date, no label" \
	out_line '0 passphrase  kdf=argon2id opslimit=2 memlimit=64MiB created=unknown label=""'

# Two more passphrases, the second with a label.
lines 'veilfs-fixture-v1' 'second-passphrase-7a1c'
vrun "$T/.lines" key add --kdf interactive "$V"
check "key add (old and new passphrase on stdin) exits 0" rc_is 0
check "key add says which slot" out_line "added a passphrase in key slot 1"
lines 'second-passphrase-7a1c' 'third passphrase 09f3'
vrun "$T/.lines" key add --kdf interactive --label 'spare "B"' "$V"
check "key add unlocked by the added passphrase exits 0" rc_is 0
vrun /dev/null key list "$V"
check "key list: three slots" [ "$(wc -l <"$OUT")" = 3 ]
check "key list: slot 2 shows its label (quoted, escaped)" \
	grep -qE '^2 passphrase  kdf=argon2id opslimit=2 memlimit=64MiB created=20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z label="spare \\"B\\""$' "$OUT"
vrun "$P1" key add --recovery "$V"
check "key add --recovery exits 0" rc_is 0
RK=$(rk_of_output)
check "key add --recovery prints a recovery key of 16 groups" [ "${#RK}" = 95 ]
printf '%s\n' "$RK" >"$T/.rk"
check "key add --recovery puts it in slot 3" out_line "added a recovery key in key slot 3"
vrun /dev/null key list "$V"
check "key list: slot 3 is the recovery slot" grep -qE '^3 recovery    kdf=none created=' "$OUT"
vrun /dev/null info "$V"
check "info: a recovery key slot is present" out_line "recovery key:   present (slot 3)"
vrun "$P1" key add --recovery "$V"
same_rk() { [ "$RC" = 0 ] && [ "$(rk_of_output)" = "$RK" ]; }
check "a second key add --recovery adds no slot and gives the same key" same_rk
vrun /dev/null key list "$V"
check "still four slots" [ "$(wc -l <"$OUT")" = 4 ]

# Remove slot 1 (P2) with P1; its bytes go, also from the old file's blocks.
slot1=$(od -An -tx1 -v -j $((24 + 112 + 64)) -N 48 "$conf" | tr -d ' \n')
ln "$conf" "$T/held-old-header"
expect_fail "key remove with the passphrase of that very slot" 2 "$P2" key remove "$V" 1
lines 'veilfs-fixture-v1'
vrun "$T/.lines" key remove "$V" 1
check "key remove 1 (unlocked by slot 0) exits 0" rc_is 0
check "key remove says which slot" out_has "removed key slot 1"
check "no temporary file is left" [ -z "$(find "$V" -name 'veilfs.tmp.*')" ]
check "the removed slot's wrapped key is not in the new header" \
	not grep -q "$slot1" <(od -An -tx1 -v "$conf" | tr -d ' \n')
check "the old header file was overwritten, not just replaced" \
	not grep -q "$slot1" <(od -An -tx1 -v "$T/held-old-header" | tr -d ' \n')
check "the old header file has the old size (4 slots, info table)" [ "$(stat -c %s "$T/held-old-header")" = 792 ]
check "the old header file no longer starts with the magic" \
	[ "$(head -c 6 "$T/held-old-header")" != VEILFS ]

# Each remaining secret opens the volume; the removed one does not.
check "after the removal, passphrase 1 decrypts every file" all_decrypt "$P1"
check "after the removal, passphrase 3 decrypts every file" all_decrypt "$P3"
check "after the removal, the recovery key decrypts every file" all_decrypt "$T/.rk"
expect_fail "the removed passphrase" 5 "$P2" ls "$V"

# Remove down to one slot; the last one is refused and the header kept.
vrun "$T/.rk" key remove "$V" 0
check "remove slot 0 with the recovery key" rc_is 0
vrun "$P3" key remove "$V" 1
check "remove slot 1 (now the recovery slot) with passphrase 3" rc_is 0
check "the recovery slot's removal says the key still works" out_has "still opens the volume"
vrun /dev/null key list "$V"
check "one slot left" [ "$(wc -l <"$OUT")" = 1 ]
before=$(sha256sum <"$conf")
expect_fail "removing the last slot" 2 "$P3" key remove "$V" 0
check "removing the last slot leaves the header as it was" [ "$(sha256sum <"$conf")" = "$before" ]
expect_fail "key remove of a slot that does not exist" 2 "$P3" key remove "$V" 5
expect_fail "key remove of a slot that is not a number" 2 "$P3" key remove "$V" x1
vrun "$T/.rk" ls "$V"
check "the recovery key still opens the volume without its slot (it is the master key)" rc_is 0

# passwd with the recovery key changes the passphrase slot.
lines "$RK" 'second-passphrase-7a1c'
vrun "$T/.lines" passwd "$V"
check "passwd with the recovery key exits 0" rc_is 0
check "after passwd with the recovery key, the new passphrase decrypts every file" \
	all_decrypt "$P2"
expect_fail "after passwd, the replaced passphrase" 5 "$P3" ls "$V"

# A new passphrase that looks like a recovery key is refused.
lines 'second-passphrase-7a1c' "$RK"
expect_fail "a new passphrase in the form of a recovery key" 2 "$T/.lines" key add "$V"

# Mistyped recovery keys: the group is named.
bad=$(printf '%s' "$RK" | awk '{ c = substr($0, 20, 1); r = (c == "A") ? "B" : "A"; print substr($0, 1, 19) r substr($0, 21) }')
printf '%s\n' "$bad" >"$T/.bad"
expect_fail "a recovery key with one character changed" 5 "$T/.bad" ls "$V"
check "the message names group 4" err_has "group 4 is wrong"
missing=$(printf '%s' "$RK" | cut -d- -f1-6,8-)
printf '%s\n' "$missing" >"$T/.missing"
expect_fail "a recovery key with group 7 left out" 5 "$T/.missing" ls "$V"
check "the message says group 7 is missing" err_has "group 7 is missing"
lower=$(printf '%s' "$RK" | tr 'A-Z' 'a-z' | tr '-' ' ')
printf '%s\n' "$lower" >"$T/.lower"
vrun "$T/.lower" ls "$V"
check "the recovery key typed in lower case with spaces is accepted" rc_is 0
vrun "$T/.rk" export "$V" "$T/exported"
check "export with the recovery key exits 0" rc_is 0
check "export with the recovery key restores the 200-byte name" \
	[ -f "$T/exported/$(awk -F '\t' '$1 == "f" && length($4) == 200 { print $4 }' "$FIXTURES/v1.manifest")" ]

# recover: the header deleted, then overwritten with random bytes.
lines "$RK" 'the-recovered-one-55e1'
rm -f "$conf"
expect_fail "ls without a header" 3 "$P2" ls "$V"
vrun "$T/.lines" recover --kdf interactive "$V"
check "recover after the header was deleted exits 0" rc_is 0
check "recover says the volume had no header" out_has "it had none"
check "after recover (deleted header) every file decrypts with the new passphrase" \
	all_decrypt "$PN"
check "after recover the recovery key opens the volume" all_decrypt "$T/.rk"
check "the rebuilt header has a recovery slot" grep -q recovery <("$VEILFS" key list "$V")
expect_fail "recover when the header is intact" 2 "$T/.lines" recover --kdf interactive "$V"
head -c 440 /dev/urandom >"$conf"
# a second link outside: recover must overwrite the old file's bytes as
# every header change does (format.md 3.9 step 4, 3.6), not just rename
ln "$conf" "$T/oldconf"
cp "$conf" "$T/oldconf.bytes"
vrun "$T/.lines" recover --kdf interactive "$V"
check "recover after the header was overwritten with random bytes exits 0" rc_is 0
check "recover overwrote the old header file in place (same size, other bytes)" \
	eval '[ "$(stat -c %s "$T/oldconf")" = 440 ] && ! cmp -s "$T/oldconf" "$T/oldconf.bytes"'
check "recover leaves no old-header link behind" [ -z "$(find "$V" -name 'veilfs.tmp.confold*')" ]
check "after recover (random header) every file decrypts with the new passphrase" \
	all_decrypt "$PN"
rm -f "$conf"
lines "$bad" 'the-recovered-one-55e1'
expect_fail "recover with one character changed" 5 "$T/.lines" recover --kdf interactive "$V"
check "recover names the wrong group" err_has "group 4 is wrong"
check "a refused recover writes no header" [ ! -e "$conf" ]

# A valid recovery key of another volume: no name decrypts, nothing written.
vrun "$P1" init --kdf interactive "$T/other"
check "init of a second volume exits 0" rc_is 0
ORK=$(rk_of_output)
lines "$ORK" 'the-recovered-one-55e1'
expect_fail "recover with another volume's recovery key" 5 "$T/.lines" recover --kdf interactive "$V"
check "another volume's key writes no header" [ ! -e "$conf" ]

# init: --recovery-key-file (0600, alone on line 1, never overwritten) and --no-recovery-key.
vrun "$P1" init --kdf interactive --recovery-key-file "$T/rk.txt" "$T/w"
check "init --recovery-key-file exits 0" rc_is 0
check "init --recovery-key-file: the key is not printed" \
	not grep -qE '[0-9A-Z]{5}(-[0-9A-Z]{5}){15}' "$OUT"
check "the key file has mode 0600" [ "$(stat -c %a "$T/rk.txt")" = 600 ]
key_file_ok() { grep -qxE '[0-9A-Z]{5}(-[0-9A-Z]{5}){15}' "$T/rk.txt" && [ "$(wc -l <"$T/rk.txt")" = 1 ]; }
check "the key file holds exactly one line, the key" key_file_ok
vrun "$T/rk.txt" ls "$T/w"
check "the key from the file opens the new volume" rc_is 0
before=$(sha256sum <"$T/rk.txt")
expect_fail "init --recovery-key-file over an existing file" 2 "$P1" \
	init --kdf interactive --recovery-key-file "$T/rk.txt" "$T/w2"
check "the existing key file is untouched" [ "$(sha256sum <"$T/rk.txt")" = "$before" ]
check "init refused before creating anything" [ ! -e "$T/w2/veilfs.conf" ]
vrun "$P1" init --kdf interactive --no-recovery-key "$T/w3"
check "init --no-recovery-key exits 0" rc_is 0
check "init --no-recovery-key prints no key" not grep -qE '[0-9A-Z]{5}(-[0-9A-Z]{5}){15}' "$OUT"
check "init --no-recovery-key: the header has one slot" \
	[ "$("$VEILFS" key list "$T/w3" | wc -l)" = 1 ]
expect_fail "--recovery-key-file with --no-recovery-key" 2 "$P1" \
	init --kdf interactive --no-recovery-key --recovery-key-file "$T/x.txt" "$T/w4"

# A passphrase from before recovery keys, in their form (12 words, 61
# letters), keeps opening its volume; a mistyped recovery key still gets
# the recovery key's message.
OLDFORM='alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima'
printf '%s\n' 'veilfs-fixture-v1' "$OLDFORM" >"$T/.w3lines"
check "setpass gives w3 a passphrase in the form of a recovery key" \
	"$SETPASS" "$T/w3" <"$T/.w3lines"
secret PO "$OLDFORM"
vrun "$PO" ls "$T/w3"
check "that passphrase still opens the volume (ls exits 0)" rc_is 0
lines "$OLDFORM" 'second-passphrase-7a1c'
vrun "$T/.lines" passwd "$T/w3"
check "passwd from that passphrase exits 0" rc_is 0
vrun "$P2" ls "$T/w3"
check "the new passphrase opens the volume" rc_is 0
expect_fail "a mistyped recovery key on w3" 5 "$T/.bad" ls "$T/w3"
check "the message still names the recovery key's group 4" err_has "group 4 is wrong"

# Two header changes at once: a key add that read the header before a key
# remove wrote it must not write its stale copy back (that would bring the
# removed slot back). A test hook holds the add just before its write.
if grep -qa VEILFS_TEST_WAIT_GO "$VEILFS"; then
	lines 'second-passphrase-7a1c' 'third passphrase 09f3'
	vrun "$T/.lines" key add --kdf interactive "$T/w3"
	check "w3 gets a second slot" rc_is 0
	lines 'second-passphrase-7a1c' 'the-recovered-one-55e1'
	rm -f "$T/.held" "$T/.go"
	VEILFS_TEST_WAIT=header-replace VEILFS_TEST_PAUSE_FILE="$T/.held" \
		VEILFS_TEST_WAIT_GO="$T/.go" "$VEILFS" key add --kdf interactive "$T/w3" \
		<"$T/.lines" >"$T/.add.out" 2>"$T/.add.err" &
	addpid=$!
	for _ in $(seq 600); do [ -e "$T/.held" ] && break; sleep 0.1; done
	check "the concurrent key add reached its header write" [ -e "$T/.held" ]
	vrun "$P2" key remove "$T/w3" 1
	check "key remove of slot 1 meanwhile exits 0" rc_is 0
	touch "$T/.go"
	wait "$addpid"
	addrc=$?
	cat "$T/.add.out" "$T/.add.err" >>"$ALL"
	check "the stale key add exits 1" [ "$addrc" = 1 ]
	check "it says another command changed the header, in one line" \
		[ "$(cat "$T/.add.err")" = "veilfs: key add: the header of $T/w3 was changed by another command meanwhile; nothing written (run it again)" ]
	vrun /dev/null key list "$T/w3"
	check "the removed slot stays removed: one slot left" [ "$(wc -l <"$OUT")" = 1 ]
	expect_fail "the removed passphrase" 5 "$P3" ls "$T/w3"
	expect_fail "the passphrase of the refused key add" 5 "$PN" ls "$T/w3"
else
	echo "skipped: concurrent key commands (needs meson -Dtest_hooks=true)" | comment
fi

# The recovery key is written with write(2) straight from secure memory:
# the one write that carries it holds the key and its newline only, not
# stdio's buffer with the text around it.
if command -v strace >/dev/null; then
	# LeakSanitizer cannot run under ptrace (sanitizer build)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -s 400 -e trace=write -o "$T/.strace" "$VEILFS" init --kdf interactive \
		"$T/w6" <"$P1" >"$OUT" 2>"$ERR"
	RC=$?
	check "init under strace exits 0" rc_is 0
	RK6=$(rk_of_output)
	check "init under strace prints a recovery key" [ "${#RK6}" = 95 ]
	check "the recovery key went out in a write(2) of its own" \
		grep -qF "write(1, \"$RK6\\n\", 96)" "$T/.strace"
	check "no other write carries it" [ "$(grep -cF "$RK6" "$T/.strace")" = 1 ]
else
	check "strace is installed" false
fi

done_testing
