#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the libFuzzer harnesses with clang and run each for N seconds.
# Usage: tests/fuzz/run.sh [SECONDS] [HARNESS...]   (default: 30, all of them)
# Corpora persist in build-fuzz/corpus/<harness> (tests/fuzz/seeds/<harness>
# holds committed seeds: valid headers with 1, 2 and 8 slots, whose
# checksum the fuzzer could not find alone); crashes are written to
# build-fuzz/crash-<harness>-* and make the script exit non-zero.
set -eu

secs=${1:-30}
[ $# -gt 0 ] && shift
harnesses=${*:-header names content file fsck recovery}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$src/build-fuzz}

command -v clang >/dev/null 2>&1 || {
	echo "fuzz: program clang not found: it comes from the Debian package clang (.ci/packages.sh; bash tests/run-all.sh installs it)" >&2
	exit 1
}
# clang without its runtime libraries (a package it only recommends) cannot
# link a harness: say so in one line rather than with a linker error.
probe=$(mktemp -d "${TMPDIR:-/tmp}/veilfs-fuzz-probe.XXXXXX")
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$probe/p.c"
if ! clang -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >"$probe/log" 2>&1; then
	echo "fuzz: clang cannot link a libFuzzer harness: install the Debian package libclang-rt-14-dev (.ci/packages.sh; bash tests/run-all.sh installs it)" >&2
	sed 's/^/fuzz: /' "$probe/log" | head -5 >&2
	rm -rf "$probe"
	exit 1
fi
rm -rf "$probe"
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$src"
fi
targets=""
for h in $harnesses; do
	targets="$targets tests/fuzz/fuzz_$h"
done
# shellcheck disable=SC2086
ninja -C "$build" $targets

status=0
for h in $harnesses; do
	exe="$build/tests/fuzz/fuzz_$h"
	corpus="$build/corpus/$h"
	mkdir -p "$corpus"
	echo "== fuzz_$h for ${secs}s"
	seeds=""
	[ -d "$src/tests/fuzz/seeds/$h" ] && seeds="$src/tests/fuzz/seeds/$h"
	# New inputs go to the first directory only; the committed seeds stay as they are.
	# shellcheck disable=SC2086
	if ! "$exe" -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$build/crash-$h-" "$corpus" $seeds \
		>"$build/fuzz_$h.log" 2>&1; then
		echo "fuzz_$h: FAILED (see $build/fuzz_$h.log)"
		grep -E 'ERROR|check failed|SUMMARY|Test unit written' "$build/fuzz_$h.log" | head -20
		status=1
	else
		grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$build/fuzz_$h.log" | tail -2
		echo "fuzz_$h: ok"
	fi
done
exit $status
