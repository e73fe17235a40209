# SPDX-License-Identifier: MIT
# veilfs passwd: old passphrase works before, new one after, old one no
# longer; the data still decrypts; refusals leave the header as it was.
. "$(dirname "$0")/lib.sh"

secret OLD 'veilfs-fixture-v1'
secret NEW 'a-New passphrase-6d0e'
secret NEW2 'third-passphrase-1b77'
secret WRONG 'not-the-passphrase-00'
# passwd reads the old passphrase on line 1 and the new one on line 2.
both() { printf '%s\n%s\n' "$1" "$2" >"$3" && chmod 600 "$3"; }
both 'veilfs-fixture-v1' 'a-New passphrase-6d0e' "$T/.old-new"
both 'a-New passphrase-6d0e' 'third-passphrase-1b77' "$T/.new-new2"
both 'not-the-passphrase-00' 'a-New passphrase-6d0e' "$T/.wrong-new"
both 'a-New passphrase-6d0e' '' "$T/.new-empty"
printf '%s\n' 'a-New passphrase-6d0e' >"$T/.new-only"
chmod 600 "$T/.new-only"

fixture v1
V=$T/v1
conf=$V/veilfs.conf

vrun "$OLD" ls "$V"
check "before passwd: the old passphrase opens the volume" rc_is 0

vrun "$T/.old-new" passwd "$V"
check "passwd (both passphrases from stdin) exits 0" rc_is 0
check "passwd: nothing on stderr" no_stderr
check "passwd says which slot changed" out_line "passphrase changed (key slot 0)"
vrun "$NEW" ls "$V"
check "after passwd: the new passphrase opens the volume" rc_is 0
expect_fail "after passwd: the old passphrase" 5 "$OLD" ls "$V"
check "after passwd: the header is still one slot (200 bytes)" [ "$(stat -c %s "$conf")" = 200 ]
check "after passwd: no temporary file is left" [ -z "$(find "$V" -name 'veilfs.tmp.*')" ]
vrun /dev/null info "$V"
check "passwd keeps the slot's KDF parameters" \
	out_line "  slot 0: argon2id opslimit=2 memlimit=64 MiB"

# Every file still decrypts to the manifest with the new passphrase.
bad=0
while IFS=$'\t' read -r _ sum path; do
	vrun "$NEW" cat "$V" "$path"
	if [ "$RC" -ne 0 ] || [ "$(sha256sum <"$OUT" | cut -d' ' -f1)" != "$sum" ]; then
		bad=$((bad + 1))
		diag "cat $path after passwd: exit $RC"
	fi
done < <(manifest_files)
check "after passwd every manifest file decrypts to its SHA-256" [ "$bad" = 0 ]

# --passfile: line 1 old, line 2 new; with --kdf.
vrun /dev/null passwd --kdf interactive --passfile "$T/.new-new2" "$V"
check "passwd --passfile (two lines) exits 0" rc_is 0
vrun "$NEW2" cat "$V" one-byte
check "after passwd --passfile: the new passphrase opens the volume" rc_is 0
expect_fail "after passwd --passfile: the previous passphrase" 5 "$NEW" ls "$V"

# --extpass: the command is run once per passphrase, line 1 then line 2.
both 'third-passphrase-1b77' 'a-New passphrase-6d0e' "$T/.new2-new"
vrun /dev/null passwd --extpass "cat $T/.new2-new" "$V"
check "passwd --extpass exits 0" rc_is 0
vrun "$NEW" ls "$V"
check "after passwd --extpass: the new passphrase opens the volume" rc_is 0

# Refusals: the header does not change.
before=$(sha256sum <"$conf")
expect_fail "passwd with a wrong old passphrase" 5 "$T/.wrong-new" passwd "$V"
check "a refused passwd leaves the header unchanged" [ "$(sha256sum <"$conf")" = "$before" ]
expect_fail "passwd with an empty new passphrase" 2 "$T/.new-empty" passwd "$V"
check "an empty new passphrase leaves the header unchanged" [ "$(sha256sum <"$conf")" = "$before" ]
expect_fail "passwd with no new passphrase line" 2 "$T/.new-only" passwd "$V"
check "a missing new passphrase leaves the header unchanged" [ "$(sha256sum <"$conf")" = "$before" ]
expect_fail "passwd on an empty directory" 3 "$T/.old-new" passwd "$T"
vrun "$NEW" ls "$V"
check "after the refusals the current passphrase still opens the volume" rc_is 0

# --config: the header lives elsewhere.
secret CP 'config-pass-8a8a'
both 'config-pass-8a8a' 'config-pass-new-9b9b' "$T/.cfg"
SECRETS+=('config-pass-new-9b9b')
printf '%s\n' 'config-pass-new-9b9b' >"$T/.cfg-new"
chmod 600 "$T/.cfg-new"
vrun "$CP" init --kdf interactive --config "$T/sep.conf" "$T/sep"
check "init --config for passwd exits 0" rc_is 0
vrun "$T/.cfg" passwd --config "$T/sep.conf" "$T/sep"
check "passwd --config exits 0" rc_is 0
vrun "$T/.cfg-new" ls --config "$T/sep.conf" "$T/sep"
check "after passwd --config: the new passphrase opens the volume" rc_is 0
check "passwd --config wrote no header into CIPHERDIR" [ ! -e "$T/sep/veilfs.conf" ]

done_testing
