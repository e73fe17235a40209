#!/bin/bash
# SPDX-License-Identifier: MIT
# Build veilfs twice and run every test; the one command for developers and CI.
# First installs the missing packages of the build and test groups of
# .ci/packages.sh (apt-get, as root or through sudo), or stops at once with
# one line naming them and the command that installs them.
#
#   build/       -Dwerror=true, every suite (integration tests skip with
#                exit 77 where /dev/fuse cannot be used)
#                Both builds set -Dtest_hooks=true: the crash test's pause
#                points (src/lib/testhook.h), compiled out of any other build.
#   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer; every suite
#                but lint and fuzz, the mounted daemon included
#   fuzz         tests/fuzz/run.sh for FUZZ_SECONDS (default 20) per
#                harness, if that script exists
#
# Ends with one line "N passed, N failed, N skipped" (meson tests of both
# builds) and exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Install the missing build and test packages of .ci/packages.sh (as root
# or through sudo), or stop at once with one line naming them.
# shellcheck source=../.ci/packages.sh
. .ci/packages.sh
veil_pkgs_ensure tests/run-all.sh build test || exit 1

status=0

rm -rf build build-asan
meson setup build -Dwerror=true -Dtest_hooks=true
ninja -C build
meson test -C build --print-errorlogs || status=1

meson setup build-asan -Dwerror=true -Dtest_hooks=true -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-asan
# Fail on any UBSan report, not only on ASan's.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	meson test -C build-asan --print-errorlogs \
	--suite unit --suite file --suite format --suite cli \
	--suite integration --suite reverse --suite fsck --suite crash || status=1

if [ -f tests/fuzz/run.sh ]; then
	fuzz_seconds=${FUZZ_SECONDS:-20}
	if FUZZ_SECONDS=$fuzz_seconds bash tests/fuzz/run.sh "$fuzz_seconds"; then
		echo "fuzz: ok"
	else
		echo "fuzz: FAILED"
		status=1
	fi
fi

python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json <<'PY' || status=1
import json, sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        print(f"cannot read {path}: {e}", file=sys.stderr)
        failed += 1
        continue
    for line in lines:
        if not line.strip():
            continue
        result = json.loads(line)["result"]
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
exit $status
