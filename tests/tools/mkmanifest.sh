#!/bin/bash
# SPDX-License-Identifier: MIT
# mkmanifest.sh PLAINDIR — print the manifest of a plaintext tree written
# by mkfixture (format: see the header lines it prints). Used once, with
# mkfixture, to make tests/fixtures/v1.manifest.
set -euo pipefail
cd "${1:?usage: mkmanifest.sh PLAINDIR}"
printf '# veilfs example volume, format version 1: tests/fixtures/v1/\n'
printf '# passphrase: veilfs-fixture-v1 (Argon2id interactive profile)\n'
printf '# one line per plaintext entry, tab-separated:\n'
printf '#   f SIZE SHA256 PATH         regular file\n'
printf '#   d - - PATH                 directory\n'
printf '#   l SIZE - PATH TARGET       symlink (SIZE = length of TARGET)\n'
find . -mindepth 1 -print0 | LC_ALL=C sort -z | while IFS= read -r -d '' p; do
	rel=${p#./}
	if [ -L "$p" ]; then
		t=$(readlink "$p")
		printf 'l\t%s\t-\t%s\t%s\n' "${#t}" "$rel" "$t"
	elif [ -d "$p" ]; then
		printf 'd\t-\t-\t%s\n' "$rel"
	else
		printf 'f\t%s\t%s\t%s\n' "$(stat -c %s "$p")" \
			"$(sha256sum <"$p" | cut -d' ' -f1)" "$rel"
	fi
done
