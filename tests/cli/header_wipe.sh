# SPDX-License-Identifier: MIT
# Old-header leftovers (veilfs.tmp.confold*) that a crash left in the conf
# directory are wiped at the next header change. Whoever can write that
# directory may swap such a name for a symlink between the check and the
# wipe, so after the check the file is reached through its descriptor
# only: swap_preload.c logs every chmod made by name, and there must be
# none. A planted regular leftover is still overwritten (seen through a
# hard link kept outside), a planted symlink leftover is only removed.
SHIM=${3:?usage: bash header_wipe.sh VEILFS FIXTURES_DIR SWAP_PRELOAD}
case $SHIM in /*) ;; *) SHIM=$PWD/$SHIM ;; esac
. "$(dirname "$0")/lib.sh"

secret NEW 'a-New passphrase-6d0e'
printf '%s\n%s\n' 'veilfs-fixture-v1' 'a-New passphrase-6d0e' >"$T/.old-new"

fixture v1
V=$T/v1

# a regular leftover, 0400 as old headers are, with a second link outside
left=$V/veilfs.tmp.confold0000dead00000001
head -c 200 /dev/zero | tr '\0' 'A' >"$left"
chmod 0400 "$left"
ln "$left" "$T/keep"
# a symlink leftover to a file that is not the volume's
printf 'not a header\n' >"$T/target"
chmod 0400 "$T/target"
ln -s "$T/target" "$V/veilfs.tmp.confold0000beef00000002"

VEIL_PATHCALL_LOG=$T/pathcalls LD_PRELOAD=$SHIM \
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
	"$VEILFS" passwd "$V" <"$T/.old-new" >"$OUT" 2>"$ERR"
RC=$?
check "passwd with leftovers planted exits 0" rc_is 0
check "no chmod of a leftover by name (shim log: $(head -c 300 "$T/pathcalls" 2>/dev/null))" \
	not grep -qE '^(fchmodat|chmod) .*confold' "$T/pathcalls"
check "no leftover is left" [ -z "$(find "$V" -name 'veilfs.tmp.confold*')" ]
wiped() { [ "$(stat -c %s "$T/keep")" = 200 ] && ! grep -q 'AAAAAAAA' "$T/keep"; }
check "the regular leftover was overwritten in place (same size, no 8 of its bytes left)" wiped
target_kept() { [ "$(stat -c %a "$T/target")" = 400 ] && [ "$(cat "$T/target")" = 'not a header' ]; }
check "the symlink's target kept its mode and content" target_kept
vrun "$NEW" ls "$V"
check "the new passphrase opens the volume" rc_is 0

# The new header is renamed into place, then the directory fsync fails: the
# command must not claim the old header is unchanged (it is not).
printf '%s\n%s\n' 'a-New passphrase-6d0e' 'a third passphrase-11' >"$T/.new-third"
secret THIRD 'a third passphrase-11'
VEIL_FAIL_DIRSYNC=1 LD_PRELOAD=$SHIM \
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
	"$VEILFS" passwd "$V" <"$T/.new-third" >"$OUT" 2>"$ERR"
RC=$?
check "passwd whose directory fsync fails exits 1" rc_is 1
check "it says the new header is in place but may not survive a crash" \
	err_has "passwd: the new header is in place, but syncing its directory failed"
check "it does not say the old one is unchanged" not err_has "unchanged"
vrun "$THIRD" ls "$V"
check "the new passphrase does open the volume" rc_is 0
printf '%s\n%s\n' 'a third passphrase-11' 'a fourth passphrase-22' >"$T/.third-fourth"
VEIL_FAIL_DIRSYNC=1 LD_PRELOAD=$SHIM \
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
	"$VEILFS" key add --kdf interactive "$V" <"$T/.third-fourth" >"$OUT" 2>"$ERR"
RC=$?
check "key add: a failed directory fsync is reported the same way" \
	err_has "key add: the new header is in place, but syncing its directory failed"

done_testing
