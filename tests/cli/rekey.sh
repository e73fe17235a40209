# SPDX-License-Identifier: MIT
# veilfs rekey on the v1 fixture: a damaged file is named and skipped
# (exit 8) while everything else is written; refusals create nothing; the
# old volume is never modified; progress on a terminal.
. "$(dirname "$0")/lib.sh"

secret P 'veilfs-fixture-v1'
secret N 'the-new-master-key-pass'
secret W 'not-the-passphrase-0'
printf '%s\n%s\n' 'veilfs-fixture-v1' 'the-new-master-key-pass' >"$T/.both"
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
	strace -f -y -qq -e trace=fsync -o "$T/strace.log" "$VEILFS" rekey --kdf interactive \
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

done_testing
