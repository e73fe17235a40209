# SPDX-License-Identifier: MIT
# The committed v1 example volume, read offline: every file of the manifest
# decrypts to its SHA-256, ls lists every name, a wrong passphrase is
# refused, and reading never changes the volume.
. "$(dirname "$0")/lib.sh"

secret P 'veilfs-fixture-v1'
secret BAD 'veilfs-fixture-v2'

fixture v1
V=$T/v1
before=$(tree_sum "$V")

check "the fixture is present" [ -s "$V/veilfs.conf" ]
check "the manifest is present" [ -s "$FIXTURES/v1.manifest" ]

# Every file of the manifest: size and SHA-256 of veilfs cat.
nfiles=0
while IFS=$'\t' read -r size sum path; do
	nfiles=$((nfiles + 1))
	vrun "$P" cat --passfile "$P" "$V" "$path"
	check "cat '${path:0:40}' exits 0" rc_is 0
	check "cat '${path:0:40}': nothing on stderr" no_stderr
	check "cat '${path:0:40}': $size bytes" [ "$(stat -c %s "$OUT")" = "$size" ]
	check "cat '${path:0:40}': SHA-256 matches the manifest" \
		[ "$(sha256sum <"$OUT" | cut -d' ' -f1)" = "$sum" ]
done < <(manifest_files)
check "the manifest lists 10 files" [ "$nfiles" = 10 ]

# ls of each directory lists exactly the manifest's entries, with types and sizes.
expected_ls() {
	grep -v '^#' "$FIXTURES/v1.manifest" | awk -F '\t' -v d="$1" '
		{ p = $4; parent = p; sub(/\/?[^\/]*$/, "", parent)
		  if (parent != d) next
		  name = p; sub(/^.*\//, "", name)
		  if ($1 == "f") print "- " $2 " " name
		  else if ($1 == "d") print "d " name
		  else print "l " name }' | LC_ALL=C sort
}
actual_ls() {
	awk '{ t = substr($1, 1, 1); name = $0; sub(/^[^ ]+ +[0-9]+ /, "", name)
	       if (t == "-") print t " " $2 " " name; else print t " " name }' "$OUT" |
		LC_ALL=C sort
}
for d in "" docs docs/sub; do
	vrun "$P" ls "$V" $d
	check "ls '${d:-/}' exits 0" rc_is 0
	check "ls '${d:-/}': nothing on stderr" no_stderr
	check "ls '${d:-/}' lists the manifest's names, types and sizes" \
		[ "$(actual_ls)" = "$(expected_ls "$d")" ]
done
vrun "$P" ls "$V"
long=$(awk -F '\t' '$1 == "f" && length($4) == 200 { print $4 }' "$FIXTURES/v1.manifest")
check "the manifest has the 200-byte name" [ "${#long}" = 200 ]
check "ls shows the 200-byte (long) name" grep -qF -- " $long" "$OUT"
check "ls shows the UTF-8 name" grep -qF -- " grüße-日本.txt" "$OUT"
check "ls shows the symlink as a link" grep -qE '^l[0-7]{4} +[0-9]+ link-to-one-byte$' "$OUT"
check "ls shows docs as a directory" grep -qE '^d[0-7]{4} +[0-9]+ docs$' "$OUT"
check "the cipher dir holds the long name's sidecar" \
	[ "$(find "$V" -maxdepth 1 -name 'veilfs.ln.*.name' | wc -l)" = 1 ]
check "no plaintext name appears in the cipher dir" \
	[ -z "$(find "$V" \( -name '*.txt' -o -name '*.bin' -o -name 'docs' -o -name 'one-byte' \) -print)" ]
vrun "$P" cat "$V" hundred-k.bin
piece=$(head -c 40 "$OUT" | tail -c 32)
check "a plaintext sample is 32 bytes" [ "${#piece}" = 32 ]
check "no plaintext content appears in the cipher dir" not grep -rqF -- "$piece" "$V"

# Wrong passphrase.
expect_fail "ls with a wrong passphrase" 5 "$BAD" ls "$V"
check "the wrong-passphrase message says so" err_has "wrong passphrase"
expect_fail "cat with a wrong passphrase" 5 "$BAD" cat "$V" hundred-k.bin
expect_fail "cat --passfile with a wrong passphrase" 5 /dev/null cat --passfile "$BAD" "$V" one-byte

# Paths that are not files.
expect_fail "cat of a missing file" 1 "$P" cat "$V" no-such-file
expect_fail "cat of a directory" 1 "$P" cat "$V" docs
expect_fail "cat of a symlink" 1 "$P" cat "$V" link-to-one-byte
expect_fail "ls of a missing directory" 1 "$P" ls "$V" no-such-dir
expect_fail "ls of a file" 1 "$P" ls "$V" one-byte

# The --extpass command inherits no descriptor but 0, 1 and 2: it lists its
# own (the shell's) with find -fprintf (no redirection or pipe of the shell
# adds one meanwhile); veilfs runs with none but 0-2 open.
bare() {
	(
		for f in /proc/$BASHPID/fd/*; do
			n=${f##*/}
			[ "$n" -gt 2 ] && eval "exec $n>&-"
		done
		exec "$@"
	) <"$P" >"$OUT" 2>"$ERR"
	RC=$?
}
fds() { [ -s "$T/fds" ] && LC_ALL=C sort -n "$T/fds" | tr '\n' ' '; }
for cmd in ls cat export; do
	rm -f "$T/fds"
	case $cmd in
	ls) extra=() ;;
	cat) extra=(one-byte) ;;
	export) extra=("$T/exported") ;;
	esac
	bare "$VEILFS" "$cmd" --extpass \
		"find /proc/\$\$/fd -mindepth 1 -fprintf $T/fds '%f\\n'; cat $P" "$V" "${extra[@]}"
	check "$cmd --extpass: exit 0" rc_is 0
	check "$cmd --extpass: the command has only descriptors 0, 1, 2 open ($(fds))" \
		[ "$(fds)" = "0 1 2 " ]
done

check "reading the fixture changed nothing in it" same_sum "$V" "$before"
check "the committed fixture itself is intact" same_sum "$FIXTURES/v1" "$before"

done_testing
