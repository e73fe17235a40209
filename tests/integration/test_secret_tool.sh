#!/bin/bash
# SPDX-License-Identifier: MIT
# The secret-tool recipe of the README and man page (the desktop keyring
# through the Secret Service), for real and headless: a private D-Bus
# session (dbus-run-session), a gnome-keyring-daemon started here with its
# login keyring in a throwaway home (created and unlocked with a password
# given on stdin) and stopped at the end, the volume's passphrase stored
# with 'secret-tool store', then 'veilfs init/mount --extpass
# "secret-tool lookup veilfs data"', a file written and read back through
# the mount, 'veilfs umount'. TAP.
# usage: test_secret_tool.sh VEILFS
set -u
VEILFS=$1
. "$(dirname "$0")/../tap.sh"
for p in secret-tool:libsecret-tools gnome-keyring-daemon:gnome-keyring dbus-run-session:dbus-daemon \
	busctl:systemd fusermount3:fuse3; do
	command -v "${p%%:*}" >/dev/null || {
		echo "test_secret_tool.sh: program ${p%%:*} not found (Debian package ${p#*:}, in .ci/packages.sh)" >&2
		exit 1
	}
done
if [ ! -c /dev/fuse ]; then
	echo "1..0 # SKIP /dev/fuse is missing"
	exit "${VEILFS_SKIP_STATUS:-77}"
fi

# Everything below runs on a D-Bus session bus of its own.
if [ -z "${VEILFS_TEST_SECRET_BUS:-}" ]; then
	VEILFS_TEST_SECRET_BUS=1 exec dbus-run-session -- bash "$0" "$@" 2> >(grep -v 'Failed to set fd limit' >&2)
fi

T=$(mktemp -d /tmp/veilfs-secret.XXXXXX)
export HOME=$T/home XDG_RUNTIME_DIR=$T/run XDG_DATA_HOME=$T/home/.local/share XDG_CONFIG_HOME=$T/home/.config
mkdir -m 700 "$HOME" "$XDG_RUNTIME_DIR"
daemon=
cleanup() {
	if grep -qF " $T/mnt " /proc/self/mountinfo; then
		"$VEILFS" umount -z "$T/mnt" 2>/dev/null || fusermount3 -uz "$T/mnt"
	fi
	if [ -n "$daemon" ]; then
		kill "$daemon" 2>/dev/null
		wait "$daemon" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# The daemon creates the login keyring with the password it reads on stdin
# and unlocks it: no prompt, no display.
printf '%s' "keyring password $$" | gnome-keyring-daemon --foreground --unlock --components=secrets \
	>"$T/daemon.log" 2>&1 &
daemon=$!
# Asked of the bus itself: 'busctl status' of the service would also want
# the peer's credentials, which a chroot without systemd cannot give.
has_secrets() {
	[ "$(busctl --user call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
		NameHasOwner s org.freedesktop.secrets 2>/dev/null)" = "b true" ]
}
for _ in $(seq 100); do
	has_secrets && break
	kill -0 "$daemon" 2>/dev/null || break
	sleep 0.1
done
has_secrets
ok $? "gnome-keyring-daemon serves the Secret Service on a private session bus" "$(cat "$T/daemon.log")"

pw="veilfs keyring recipe $(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
out=$(printf '%s' "$pw" | timeout 30 secret-tool store --label='veilfs data' veilfs data 2>&1)
ok $? "secret-tool store --label='veilfs data' veilfs data" "$out"
[ "$(timeout 30 secret-tool lookup veilfs data)" = "$pw" ]
ok $? "secret-tool lookup veilfs data prints it"
[ -f "$XDG_DATA_HOME/keyrings/login.keyring" ] && ! grep -qF "$pw" "$XDG_DATA_HOME/keyrings/login.keyring"
ok $? "the keyring file is in the throwaway home and does not hold the passphrase in the clear"

out=$("$VEILFS" init --kdf interactive --no-recovery-key --extpass 'secret-tool lookup veilfs data' \
	"$T/vol" 2>&1 </dev/null)
ok $? "veilfs init --extpass 'secret-tool lookup veilfs data'" "$out"
mkdir "$T/mnt"
out=$("$VEILFS" mount --extpass 'secret-tool lookup veilfs data' "$T/vol" "$T/mnt" 2>&1 </dev/null)
ok $? "veilfs mount --extpass 'secret-tool lookup veilfs data'" "$out"
echo "kept in the keyring" >"$T/mnt/note" && [ "$(cat "$T/mnt/note")" = "kept in the keyring" ]
ok $? "a file written and read back through the mount"
out=$("$VEILFS" umount "$T/mnt" 2>&1)
ok $? "veilfs umount" "$out"
out=$(printf '%s\n' "$pw" | "$VEILFS" cat "$T/vol" note 2>&1)
[ "$out" = "kept in the keyring" ]
ok $? "the same passphrase typed in opens the volume" "$out"
# An entry the keyring does not have: secret-tool prints nothing, exits 1.
out=$("$VEILFS" ls --extpass 'secret-tool lookup veilfs other' "$T/vol" 2>&1 </dev/null)
rc=$?
[ "$rc" = 2 ] && [ "$(printf '%s\n' "$out" | grep -c .)" = 1 ] && [[ $out == "veilfs: the --extpass command "* ]]
ok $? "an entry the keyring does not have: exit 2, one line from veilfs" "rc=$rc $out"

kill "$daemon" && wait "$daemon"
rc=$?
daemon=
[ "$rc" = 0 ] || [ "$rc" = 143 ]
ok $? "gnome-keyring-daemon stopped" "status $rc"
tap_done
