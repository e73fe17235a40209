# SPDX-License-Identifier: MIT
# veilfs export and an untrusted DESTDIR or cipher directory: DESTDIR must be
# the caller's and writable by nobody else; restored objects belong to the
# caller with modes masked by the umask (--owners: root only); metadata goes
# through the descriptor of what export created, so a name swapped for a
# symlink meanwhile (swap_preload.c plays that attacker) changes nothing
# outside DESTDIR.
SHIM=${3:?usage: bash export.sh VEILFS FIXTURES_DIR SWAP_PRELOAD}
case $SHIM in /*) ;; *) SHIM=$PWD/$SHIM ;; esac
. "$(dirname "$0")/lib.sh"

secret P 'veilfs-fixture-v1'
fixture v1
V=$T/v1
ME=$(id -u)

# cpath PLAINPATH: the backing path of a plaintext path
cpath() { "$VEILFS" path --passfile "$P" "$V" "$1"; }

# export_to DEST ARGS...: veilfs export (umask as set by the caller)
export_to() {
	local d=$1
	shift
	vrun "$P" export --passfile "$P" "$@" "$V" "$d"
}

# ---- DESTDIR writable by others, or not ours: refused, left empty
for m in 777 775 1777; do
	mkdir -m "$m" "$T/open$m" && chmod "$m" "$T/open$m"
	export_to "$T/open$m"
	check "DESTDIR mode $m: exit 2" rc_is 2
	check "DESTDIR mode $m: one line on stderr" one_line_err
	check "DESTDIR mode $m: the line says why" err_has "writable by other users"
	check "DESTDIR mode $m: left empty" [ -z "$(ls -A "$T/open$m")" ]
done
if [ "$ME" = 0 ]; then
	mkdir -m 700 "$T/theirs" && chown 4242:4242 "$T/theirs"
	export_to "$T/theirs"
	check "DESTDIR of another user: exit 2" rc_is 2
	check "DESTDIR of another user: one line on stderr" one_line_err
	check "DESTDIR of another user: the line says why" err_has "belongs to another user"
	check "DESTDIR of another user: left empty" [ -z "$(ls -A "$T/theirs")" ]
else
	ok "# SKIP DESTDIR of another user (needs root to make one)"
fi
export_to "$T/open777" --unsafe-destdir
check "--unsafe-destdir overrides the check" rc_is 0
check "--unsafe-destdir: the volume is restored" [ -s "$T/open777/hundred-k.bin" ]

# ---- modes: the stored ones masked by the umask
chmod 0666 "$V/$(cpath one-byte)"
chmod 0777 "$V/$(cpath docs)"
(umask 022 && export_to "$T/u022")
check "umask 022: exit 0" rc_is 0
check "umask 022: a stored 0666 file is 0644" [ "$(stat -c %a "$T/u022/one-byte")" = 644 ]
check "umask 022: a stored 0777 directory is 0755" [ "$(stat -c %a "$T/u022/docs")" = 755 ]
(umask 077 && export_to "$T/u077")
check "umask 077: exit 0" rc_is 0
check "umask 077: no file or directory is open to group or others" \
	[ -z "$(find "$T/u077" -mindepth 1 ! -type l -perm /077)" ]
(umask 0 && export_to "$T/u000")
check "umask 0: the stored modes exactly" \
	[ "$(stat -c %a "$T/u000/one-byte") $(stat -c %a "$T/u000/docs")" = "666 777" ]

# ---- owners: the invoking user, unless --owners (root only)
if [ "$ME" = 0 ]; then
	chown 4242:4343 "$V/$(cpath one-byte)" "$V/$(cpath docs)"
	chown -h 4242:4343 "$V/$(cpath link-to-one-byte)"
	export_to "$T/own-default"
	check "default owner: exit 0" rc_is 0
	check "default owner: file, directory and symlink are the caller's" \
		[ "$(stat -c %u "$T/own-default/one-byte" "$T/own-default/docs" \
			"$T/own-default/link-to-one-byte" | sort -u)" = 0 ]
	export_to "$T/own-stored" --owners
	check "--owners: exit 0" rc_is 0
	check "--owners: the stored owners and groups" \
		[ "$(stat -c %u:%g "$T/own-stored/one-byte" "$T/own-stored/docs" \
			"$T/own-stored/link-to-one-byte" | sort -u)" = 4242:4343 ]
	if setpriv --reuid 65534 --regid 65534 --clear-groups true 2>/dev/null &&
		setpriv --reuid 65534 --regid 65534 --clear-groups test -x "$VEILFS"; then
		mkdir -m 777 "$T/nobody"
		setpriv --reuid 65534 --regid 65534 --clear-groups \
			"$VEILFS" export --owners --passfile /nonexistent "$V" "$T/nobody/d" \
			</dev/null >"$OUT" 2>"$ERR"
		RC=$?
		check "--owners as another user than root: exit 2" rc_is 2
		check "--owners as another user than root: one line naming root" \
			eval 'one_line_err && err_has "needs root"'
	else
		ok "# SKIP --owners as non-root (cannot run veilfs as nobody here)"
	fi
else
	export_to "$T/own-user" --owners
	check "--owners as non-root: exit 2" rc_is 2
	check "--owners as non-root: one line naming root" eval 'one_line_err && err_has "needs root"'
fi

# ---- a name swapped for a symlink right after export created it
victim=$T/victim
printf 'not yours\n' >"$victim"
chmod 0600 "$victim"
touch -d '2001-02-03 04:05:06' "$victim"
vstat=$(stat -c '%a %u %g %Y' "$victim")
fifo_c=$V/$(cpath a-fifo)
mkfifo -m 0666 "$fifo_c"
mkdir -m 700 "$T/race"
OWN=()
[ "$ME" = 0 ] && OWN=(--owners)
VEIL_SWAP_VICTIM=$victim VEIL_PATHCALL_LOG=$T/pathcalls LD_PRELOAD=$SHIM \
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
	"$VEILFS" export "${OWN[@]}" --passfile "$P" "$V" "$T/race" <"$P" >"$OUT" 2>"$ERR"
RC=$?
check "the swap shim ran (a .moved file exists)" [ -f "$T/race/one-byte.moved" ]
check "swapped names: the symlink target kept its mode, owner and mtime" \
	[ "$(stat -c '%a %u %g %Y' "$victim")" = "$vstat" ]
check "swapped names: the symlink target kept its content" \
	[ "$(cat "$victim")" = "not yours" ]
check "the mode went to the file export created" \
	[ "$(stat -c %a "$T/race/one-byte.moved")" = "$(printf '%o' $((0666 & ~$(umask))))" ]
check "a special file replaced by a symlink is reported, not followed" \
	eval 'rc_is 8 && err_has "a-fifo"'
check "no metadata call or link by name (shim log: $(head -c 300 "$T/pathcalls" 2>/dev/null))" \
	[ ! -s "$T/pathcalls" ]

done_testing
