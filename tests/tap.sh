# SPDX-License-Identifier: MIT
# TAP for the shell tests, sourced (POSIX sh): ". "$(dirname "$0")/../tap.sh"".
#   ok STATUS DESCRIPTION [DIAG]   one test point: "ok N - ..." when STATUS is
#                                  0, else "not ok N - ..." (also on stderr,
#                                  so a failure never shows an empty stderr)
#                                  and DIAG as "# " lines on stdout and stderr
#                                  (its last $TAP_DIAG_LINES lines, when the
#                                  script sets that; else all of it)
#   tap_done                       prints the plan "1..N"; its status (the
#                                  script's, when it comes last) is 0 only if
#                                  no test point failed
n=0
failed=0
ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		failed=$((failed + 1))
		echo "not ok $n - $2"
		echo "not ok $n - $2" >&2
		[ -n "${3:-}" ] && printf '%s\n' "$3" | tail -n "${TAP_DIAG_LINES:-+1}" |
			sed 's/^/# /' | tee /dev/stderr
	fi
}
tap_done() {
	echo "1..$n"
	[ "$failed" -eq 0 ]
}
