#!/bin/bash
# SPDX-License-Identifier: MIT
# The pass(1) recipe of the README and man page, for real: a throwaway
# GnuPG home with a key made here, a gpg-agent started here and stopped at
# the end, a password store holding the passphrase, then
# 'veilfs init/mount --extpass "pass show veilfs/data"', a file written and
# read back through the mount, 'veilfs umount'. TAP.
# usage: test_pass.sh VEILFS
set -u
VEILFS=$1
# shellcheck source=../tap.sh
. "$(dirname "$0")/../tap.sh"
for p in pass:pass gpg:gnupg gpgconf:gnupg gpg-agent:gpg-agent fusermount3:fuse3; do
	command -v "${p%%:*}" >/dev/null || {
		echo "test_pass.sh: program ${p%%:*} not found (Debian package ${p#*:}, in .ci/packages.sh)" >&2
		exit 1
	}
done
if [ ! -c /dev/fuse ]; then
	echo "1..0 # SKIP /dev/fuse is missing"
	exit "${VEILFS_SKIP_STATUS:-77}"
fi

T=$(mktemp -d /tmp/veilfs-pass.XXXXXX)
export GNUPGHOME=$T/g PASSWORD_STORE_DIR=$T/store
mkdir -m 700 "$GNUPGHOME"
cleanup() {
	if grep -qF " $T/mnt " /proc/self/mountinfo; then
		"$VEILFS" umount -z "$T/mnt" 2>/dev/null || fusermount3 -uz "$T/mnt"
	fi
	gpgconf --kill gpg-agent 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

out=$(gpgconf --launch gpg-agent 2>&1)
ok $? "gpg-agent started in a throwaway GNUPGHOME" "$out"
out=$(gpg --batch --pinentry-mode loopback --passphrase '' \
	--quick-gen-key 'veilfs test <veilfs-test@example.invalid>' future-default default never 2>&1)
ok $? "a key without passphrase made for the test" "$out"
fpr=$(gpg --batch --with-colons --list-secret-keys 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }')
out=$(pass init "$fpr" 2>&1)
ok $? "pass init with that key" "$out"
pw="veilfs pass recipe $(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
out=$(printf '%s\n' "$pw" | pass insert -m veilfs/data 2>&1)
ok $? "the passphrase stored as veilfs/data" "$out"
[ "$(pass show veilfs/data)" = "$pw" ]
ok $? "pass show veilfs/data prints it"

out=$("$VEILFS" init --kdf interactive --no-recovery-key --extpass 'pass show veilfs/data' "$T/vol" 2>&1 </dev/null)
ok $? "veilfs init --extpass 'pass show veilfs/data'" "$out"
mkdir "$T/mnt"
out=$("$VEILFS" mount --extpass 'pass show veilfs/data' "$T/vol" "$T/mnt" 2>&1 </dev/null)
ok $? "veilfs mount --extpass 'pass show veilfs/data'" "$out"
echo "kept in pass" >"$T/mnt/note" && [ "$(cat "$T/mnt/note")" = "kept in pass" ]
ok $? "a file written and read back through the mount"
out=$("$VEILFS" umount "$T/mnt" 2>&1)
ok $? "veilfs umount" "$out"
out=$(printf '%s\n' "$pw" | "$VEILFS" cat "$T/vol" note 2>&1)
[ "$out" = "kept in pass" ]
ok $? "the same passphrase typed in opens the volume" "$out"
out=$("$VEILFS" ls --extpass 'pass show veilfs/other' "$T/vol" 2>&1 </dev/null)
rc=$?
# pass says why on its stderr (passed through); veilfs adds one line of its own.
[ "$rc" = 2 ] && [ "$(printf '%s\n' "$out" | tail -n 1)" = "veilfs: the --extpass command failed (exit status 1)" ] &&
	[ "$(printf '%s\n' "$out" | grep -c '^veilfs:')" = 1 ]
ok $? "an entry pass does not have: exit 2, one line from veilfs" "rc=$rc $out"
gpgconf --kill gpg-agent
ok $? "gpg-agent stopped"
tap_done
