# SPDX-License-Identifier: MIT
# veilfs rekey on the v1 fixture: a damaged file is named and skipped
# (exit 8) while everything else is written; refusals create nothing; the
# old volume is never modified; progress on a terminal.
. "$(dirname "$0")/lib.sh"

secret P 'veilfs-fixture-v1'
secret N 'the-new-master-key-pass'
secret W 'not-the-passphrase-0'
printf '%s\n%s\n' 'veilfs-fixture-v1' 'the-new-master-key-pass' >"$T/.both"
chmod 600 "$T/.both" # --passfile refuses a file others can read
printf '%s\n%s\n' 'not-the-passphrase-0' 'the-new-master-key-pass' >"$T/.wrong"

fixture v1
V=$T/v1

# Damage one block of hundred-k.bin (not the last one).
vrun "$P" path "$V" hundred-k.bin
check "path of hundred-k.bin exits 0" rc_is 0
cfile=$V/$(cat "$OUT")
check "the cipher file of hundred-k.bin exists" [ -f "$cfile" ]
flip "$cfile" 5000
before=$(tree_sum "$V")

expect_fail "rekey with a wrong passphrase" 5 "$T/.wrong" rekey --kdf interactive \
	--no-recovery-key "$V" "$T/n0"
check "a refused rekey creates no NEWDIR" [ ! -e "$T/n0" ]
mkdir "$T/full" && echo x >"$T/full/x"
expect_fail "rekey into a non-empty directory that is no volume" 2 "$T/.both" rekey \
	--kdf interactive --no-recovery-key "$V" "$T/full"

vrun "$T/.both" rekey --kdf interactive --no-recovery-key "$V" "$T/n1"
check "rekey of a volume with a damaged file exits 8" rc_is 8
check "the damaged file is named with its block" err_has "rekey: hundred-k.bin: block 1:"
check "the summary counts one skipped item" err_has "1 item(s) could not be rekeyed"
check "the old volume was not modified" same_sum "$V" "$before"
bad=0
while IFS=$'\t' read -r _ sum path; do
	[ "$path" = hundred-k.bin ] && continue
	vrun "$N" cat "$T/n1" "$path"
	if [ "$RC" -ne 0 ] || [ "$(sha256sum <"$OUT" | cut -d' ' -f1)" != "$sum" ]; then
		bad=$((bad + 1))
		diag "cat $path from the new volume: exit $RC"
	fi
done < <(manifest_files)
check "every other file is in the new volume and decrypts to its SHA-256" [ "$bad" = 0 ]
vrun "$N" ls "$T/n1"
check "the damaged file is not in the new volume" not out_has " hundred-k.bin"
check "the symlink is in the new volume" grep -qE '^l[0-7]{4} +[0-9]+ link-to-one-byte$' "$OUT"
vrun "$N" ls "$T/n1" docs/sub
check "the nested symlink is in the new volume" grep -qE ' up-two$' "$OUT"
check "no temporary name is left in the new volume" \
	[ -z "$(find "$T/n1" -name 'veilfs.tmp.*')" ]

# A rerun continues, still reports the damage, and changes nothing else.
vrun "$T/.both" rekey --kdf interactive --no-recovery-key "$V" "$T/n1"
check "a rerun exits 8 again (the damaged file is still damaged)" rc_is 8
check "a rerun says it continues" out_has "continuing the rekey"

# On a terminal: a progress line with files, bytes and MB/s.
if command -v script >/dev/null 2>&1; then
	script -qec "$VEILFS rekey --kdf interactive --no-recovery-key --passfile $T/.both $V $T/n2" \
		"$T/.typescript" >/dev/null 2>&1 </dev/null
	check "on a terminal rekey shows files, MiB and MB/s" \
		grep -qE '9/10 files, [0-9.]+/[0-9.]+ MiB, [0-9.]+ MB/s' "$T/.typescript"
fi

# Success means the whole new tree is durable: every directory of NEWDIR is
# fsynced (after its entries), not only the root.
if command -v strace >/dev/null; then
	printf '%s\n%s\n' 'veilfs-fixture-v1' 'the-new-master-key-pass' >"$T/.both2"
	# LeakSanitizer cannot run under ptrace (sanitizer build)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -y -qq -e trace=fsync -o "$T/strace.log" "$VEILFS" rekey --kdf interactive \
		--no-recovery-key "$V" "$T/n9" <"$T/.both2" >/dev/null 2>"$ERR"
	RC=$?
	check "rekey under strace: exit 8 as before (the damaged file)" rc_is 8
	nodsync=0
	while IFS= read -r d; do
		grep -qF "<$d>" "$T/strace.log" || { nodsync=$((nodsync + 1)); diag "not fsynced: $d"; }
	done < <(find "$T/n9" -type d)
	check "every directory of the new volume was fsynced" [ "$nodsync" = 0 ]
	check "the new volume has subdirectories to check" [ "$(find "$T/n9" -mindepth 1 -type d | wc -l)" -ge 2 ]
else
	check "strace is installed (.ci/packages.sh, test group)" false
fi

# An unfinished rekey binds NEWDIR to its old volume (veilfs.rekey); a
# rerun continues only there, never into some other volume.
check "the unfinished rekey left its mark in NEWDIR" [ -f "$T/n1/veilfs.rekey" ]
vrun "$N" init --kdf interactive --no-recovery-key "$T/other"
check "init of another volume exits 0" rc_is 0
other=$(tree_sum "$T/other")
expect_fail "rekey into another volume" 2 "$T/.both" rekey --kdf interactive \
	--no-recovery-key "$V" "$T/other"
check "the message names the refusal" err_has "not a volume an unfinished rekey of $V made"
check "the other volume is unchanged" same_sum "$T/other" "$other"
printf '%s\n%s\n' 'the-new-master-key-pass' 'the-new-master-key-pass' >"$T/.nn"
n1=$(tree_sum "$T/n1")
expect_fail "rekey of another old volume into an unfinished rekey's NEWDIR" 2 "$T/.nn" \
	rekey --kdf interactive --no-recovery-key "$T/other" "$T/n1"
check "that NEWDIR is unchanged" same_sum "$T/n1" "$n1"

# A finished rekey removes the mark: its NEWDIR is a volume like any other.
vrun "$T/.nn" rekey --kdf interactive --no-recovery-key "$T/other" "$T/o2"
check "rekey of a volume without damage exits 0" rc_is 0
check "the finished rekey removed its mark" [ ! -e "$T/o2/veilfs.rekey" ]
expect_fail "rekey into a finished rekey's NEWDIR" 2 "$T/.nn" rekey --kdf interactive \
	--no-recovery-key "$T/other" "$T/o2"

# The old volume is locked as a mount locks it: not while fsck --repair
# holds it exclusively, and not while it is mounted (a shared lock). A
# one-process holder, so that killing it drops the lock.
hold() {
	rm -f "$T/.locked"
	python3 -c 'import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX if sys.argv[2] == "x" else fcntl.LOCK_SH)
open(sys.argv[3], "w").close()
time.sleep(60)' "$T/other" "$1" "$T/.locked" &
	lk=$!
	for _ in $(seq 100); do [ -e "$T/.locked" ] && break; sleep 0.1; done
}
hold x
expect_fail "rekey while the old volume is being repaired" 1 "$T/.nn" \
	rekey --kdf interactive --no-recovery-key "$T/other" "$T/o3"
check "it names the repair" err_has "is being repaired by 'veilfs fsck --repair'"
check "it created no NEWDIR" [ ! -e "$T/o3" ]
kill "$lk"
wait "$lk" 2>/dev/null
hold s
expect_fail "rekey while the old volume is mounted" 1 "$T/.nn" \
	rekey --kdf interactive --no-recovery-key "$T/other" "$T/o3"
check "it says to unmount first" err_has "is mounted (or read by another rekey); unmount it first"
check "it created no NEWDIR either" [ ! -e "$T/o3" ]
kill "$lk"
wait "$lk" 2>/dev/null

done_testing
