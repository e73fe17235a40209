#!/bin/bash
# SPDX-License-Identifier: MIT
# The systemd credential recipe of the man page (SYSTEMD): its drop-in for
# veilfs@.service, taken from docs/veilfs.1 as printed there, passes
# 'systemd-analyze verify' together with the unit; then its ExecStart= runs
# as systemd would run it, with a credentials directory of its own
# (read-only, the passphrase file mode 0400, named by
# $CREDENTIALS_DIRECTORY) and the variables of the .env file: the volume is
# mounted, a file written and read back, and SIGTERM (systemctl stop)
# unmounts it. systemd itself does not run here. TAP.
# usage: test_credentials.sh VEILFS UNITFILE MANPAGE
set -u
VEILFS=$(realpath "$1")
unit=$2
manpage=$3
. "$(dirname "$0")/../tap.sh"
for p in systemd-analyze:systemd fusermount3:fuse3; do
	command -v "${p%%:*}" >/dev/null || {
		echo "test_credentials.sh: program ${p%%:*} not found (Debian package ${p#*:}, in .ci/packages.sh)" >&2
		exit 1
	}
done
if [ ! -c /dev/fuse ]; then
	echo "1..0 # SKIP /dev/fuse is missing"
	exit "${VEILFS_SKIP_STATUS:-77}"
fi

T=$(mktemp -d /tmp/veilfs-cred.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	if grep -qF " $T/mnt " /proc/self/mountinfo; then
		fusermount3 -uz "$T/mnt" 2>/dev/null
	fi
	chmod -R u+w "$T" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# The drop-in, as the man page prints it.
awk '/recipe: credential.conf/ { on = 1; next } on && /^\.nf/ { next } on && /^\.fi/ { exit } on { print }' \
	"$manpage" | sed 's/\\-/-/g' >"$T/credential.conf"
grep -qx 'LoadCredential=passphrase:%E/veilfs/%i.pass' "$T/credential.conf" &&
	grep -qx 'ExecStart=' "$T/credential.conf" &&
	grep -q '^ExecStart=/usr/bin/veilfs mount -f --passfile ${CREDENTIALS_DIRECTORY}/passphrase ' "$T/credential.conf"
ok $? "the man page's drop-in: LoadCredential=, ExecStart= reset, then --passfile \${CREDENTIALS_DIRECTORY}/passphrase" \
	"$(cat "$T/credential.conf")"

# The unit and the drop-in, pointed at the program under test, as the user
# manager would load them (drop-ins from the unit path).
mkdir -p "$T/units/veilfs@data.service.d" "$T/xdg"
chmod 700 "$T/xdg"
unit_bin=$(sed -n 's|^ExecStart=\([^ ]*\) .*|\1|p' "$unit")
sed "s|^ExecStart=$unit_bin |ExecStart=$VEILFS |" "$unit" >"$T/units/veilfs@data.service"
sed "s|^ExecStart=/usr/bin/veilfs |ExecStart=$VEILFS |" "$T/credential.conf" \
	>"$T/units/veilfs@data.service.d/credential.conf"
# Documentation=man:veilfs(1): verify runs man, which finds the page here.
mkdir -p "$T/man/man1"
cp "$manpage" "$T/man/man1/veilfs.1"
verify() {
	(cd "$T" && XDG_RUNTIME_DIR=$T/xdg SYSTEMD_UNIT_PATH=$T/units: MANPATH=$T/man \
		systemd-analyze verify --user "$T/units/veilfs@data.service" 2>&1)
}
r=$(verify)
ok $? "systemd-analyze verify --user: veilfs@data.service with the drop-in" "$r"
[ -z "$r" ]
ok $? "systemd-analyze verify says nothing" "$r"
# The drop-in is read: a misspelt key in it is reported.
cp "$T/units/veilfs@data.service.d/credential.conf" "$T/good.conf"
sed -i 's/^LoadCredential=/LoadCredentail=/' "$T/units/veilfs@data.service.d/credential.conf"
r=$(verify)
[[ $r == *LoadCredentail* ]]
ok $? "systemd-analyze verify reads the drop-in (a misspelt key in it is reported)" "$r"
cp "$T/good.conf" "$T/units/veilfs@data.service.d/credential.conf"

# What systemd would set up: ~/.config/veilfs/data.env and data.pass (0600),
# the credential copied to a directory of the service's own.
mkdir -p "$T/config/veilfs" "$T/vol" "$T/mnt" "$T/creds"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/config/veilfs/data.pass"
chmod 600 "$T/config/veilfs/data.pass"
printf 'VEILFS_CIPHERDIR=%s\nVEILFS_MOUNTPOINT=%s\n' "$T/vol" "$T/mnt" >"$T/config/veilfs/data.env"
out=$("$VEILFS" init --kdf interactive --no-recovery-key --passfile "$T/config/veilfs/data.pass" "$T/vol" 2>&1 </dev/null)
ok $? "veilfs init --passfile ~/.config/veilfs/data.pass" "$out"
install -m 400 "$T/config/veilfs/data.pass" "$T/creds/passphrase"
chmod 500 "$T/creds"

# The drop-in's ExecStart=, its \${VAR}s expanded from the environment the
# service gets (EnvironmentFile= and CREDENTIALS_DIRECTORY) and split into
# words, as systemd does for an unquoted \${VAR}.
line=$(sed -n 's/^ExecStart=\(..*\)/\1/p' "$T/units/veilfs@data.service.d/credential.conf" | tail -n 1)
while IFS='=' read -r k v; do declare "E_$k=$v"; done <"$T/config/veilfs/data.env"
E_CREDENTIALS_DIRECTORY=$T/creds
while [[ $line =~ \$\{([A-Z_]+)\} ]]; do
	var=E_${BASH_REMATCH[1]}
	line=${line//"${BASH_REMATCH[0]}"/${!var}}
done
read -ra argv <<<"$line"
[ "${argv[0]}" = "$VEILFS" ] && [ "${argv[4]}" = "$T/creds/passphrase" ] && [ "${argv[5]}" = "$T/vol" ] &&
	[ "${argv[6]}" = "$T/mnt" ]
ok $? "ExecStart= expands to: veilfs mount -f --passfile \$CREDENTIALS_DIRECTORY/passphrase CIPHERDIR MOUNTPOINT" \
	"${argv[*]}"
CREDENTIALS_DIRECTORY=$T/creds "${argv[@]}" </dev/null >"$T/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 300); do
	grep -F " $T/mnt " /proc/self/mountinfo | grep -qF " - fuse.veilfs " && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
grep -F " $T/mnt " /proc/self/mountinfo | grep -qF " - fuse.veilfs "
ok $? "mounted with the passphrase from the credentials directory" "$(cat "$T/daemon.log")"
echo "from a credential" >"$T/mnt/note" && [ "$(cat "$T/mnt/note")" = "from a credential" ]
ok $? "a file written and read back through the mount"
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
ok $rc "SIGTERM (systemctl stop): the daemon exits 0" "status $rc; $(cat "$T/daemon.log")"
! grep -qF " $T/mnt " /proc/self/mountinfo
ok $? "and the volume is unmounted"
out=$("$VEILFS" cat --passfile "$T/creds/passphrase" "$T/vol" note 2>&1 </dev/null)
[ "$out" = "from a credential" ]
ok $? "the file is in the volume" "$out"
tap_done
