# SPDX-License-Identifier: MIT
# Command-line usage: help, version, bad arguments (exit 2, one line).
. "$(dirname "$0")/lib.sh"

secret P 'usage-pass-5c1d'

vrun /dev/null --help
check "--help exits 0" rc_is 0
for c in init mount passwd info ls cat; do
	check "--help lists '$c'" grep -qE "^  $c " "$OUT"
done
vrun /dev/null --version
check "--version exits 0" rc_is 0
check "--version names the format version" out_has "format version 1"
vrun /dev/null
check "no command exits 2" rc_is 2
check "no command prints nothing on stdout" no_stdout

expect_fail "unknown command" 2 /dev/null frobnicate
for c in init passwd info ls cat; do
	vrun /dev/null "$c" --help
	check "$c --help exits 0" rc_is 0
	check "$c --help prints its usage" out_has "usage: veilfs $c"
done

# Missing arguments.
expect_fail "init without CIPHERDIR" 2 "$P" init
expect_fail "init with two directories" 2 "$P" init "$T/x" "$T/y"
check "init with two directories creates neither" none_exist "$T/x" "$T/y"
expect_fail "passwd without CIPHERDIR" 2 "$P" passwd
expect_fail "info without CIPHERDIR" 2 /dev/null info
expect_fail "ls without CIPHERDIR" 2 "$P" ls
expect_fail "ls with three arguments" 2 "$P" ls "$T" a b
expect_fail "cat without PATH" 2 "$P" cat "$T"
expect_fail "init --passfile without its argument" 2 /dev/null init --passfile
expect_fail "init --kdf without its argument" 2 "$P" init --kdf

# Unknown options.
expect_fail "init with an unknown long option" 2 "$P" init --frobnicate "$T/z"
check "init with an unknown option creates nothing" [ ! -e "$T/z" ]
expect_fail "init with an unknown short option" 2 "$P" init -q "$T/z"
expect_fail "info with an unknown option" 2 /dev/null info --verbose "$T"
expect_fail "info does not take --kdf" 2 /dev/null info --kdf interactive "$T"
check "info --kdf: the message names the refused option '--kdf'" err_has "'--kdf'"
expect_fail "ls does not take --kdf" 2 "$P" ls --kdf interactive "$T"
expect_fail "cat with an unknown option" 2 "$P" cat --offset 3 "$T" x
expect_fail "passwd with an unknown KDF profile" 2 "$P" passwd --kdf turbo "$T"

# One table: --help, the man page's synopsis and the completion script.
MAN=$FIXTURES/../../docs/veilfs.1
syn=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$MAN")
vrun /dev/null --synopsis
check "--synopsis exits 0" rc_is 0
missing=
while read -r _ cmd rest; do
	case $cmd in key) cmd="key $(set -- $rest; echo "$1")" ;; esac
	grep -qF -- ".B veilfs ${cmd//-/\\-}" <<<"$syn" || missing="$missing [$cmd]"
	for o in $(grep -oE -- '--[a-z-]+' <<<"$rest" | sort -u); do
		grep -qF -- "${o//-/\\-}" <<<"$syn" || missing="$missing $cmd:$o"
	done
done <"$OUT"
check "every command and option of --synopsis is in the man page's SYNOPSIS${missing:+ (missing:$missing)}" \
	[ -z "$missing" ]
for c in init mount passwd "key add" recover rekey; do
	vrun /dev/null $c --help
	check "'$c --help' is its --synopsis line" grep -qxF -- "veilfs $(cat "$OUT" | sed 's/^usage: veilfs //')" \
		<("$VEILFS" --synopsis)
done
vrun /dev/null --completion
check "--completion is a valid bash script" bash -n "$OUT"
check "--completion offers the key commands" grep -qF "list add remove" "$OUT"
check "--completion offers fsck's own options" grep -qF "'fsck') words='--help --repair --quick --json --config --passfile --extpass'" "$OUT"
vrun /dev/null --completion bash
check "--completion bash is the default script" cmp -s "$OUT" <("$VEILFS" --completion)
vrun /dev/null --completion zsh
check "--completion zsh exits 0" rc_is 0
check "--completion zsh starts with #compdef veilfs" [ "$(head -n 1 "$OUT")" = "#compdef veilfs" ]
check "--completion zsh offers the KDF profiles" grep -qF ":kdf:(interactive moderate sensitive)'" "$OUT"
if command -v zsh >/dev/null; then
	check "--completion zsh is a valid zsh script" zsh -n "$OUT"
fi
expect_fail "--completion for an unknown shell" 2 /dev/null --completion fish
expect_fail "'key' without a key command" 2 /dev/null key
expect_fail "an unknown key command" 2 /dev/null key frob "$T"

done_testing
