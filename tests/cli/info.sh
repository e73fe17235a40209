# SPDX-License-Identifier: MIT
# veilfs info: shows the header's public fields, needs no passphrase, and
# never prints a secret or any key material.
. "$(dirname "$0")/lib.sh"

secret P 'info-Pass-4e2a-correct horse'

vrun "$P" init --kdf interactive "$T/v"
check "init for info exits 0" rc_is 0

vrun /dev/null info "$T/v"
check "info exits 0 without any passphrase input" rc_is 0
check "info: nothing on stderr" no_stderr
check "info shows the format version" out_line "format version: 1"
check "info shows the block size" out_line "block size:     4096"
check "info shows the feature flags" out_line "feature flags:  0x00000000"
check "info shows the number of key slots (passphrase and recovery)" out_line "key slots:      2"
check "info shows slot 0 and its KDF parameters" \
	out_line "  slot 0: argon2id opslimit=2 memlimit=64 MiB"
check "info shows slot 1, the recovery key slot" out_line "  slot 1: recovery key"
check "info says a recovery key slot is present" out_line "recovery key:   present (slot 1)"
check "info prints exactly those lines" [ "$(wc -l <"$OUT")" -eq 7 ]

# info --json: valid JSON, the documented keys in order, the same values
# as the text output (parsed back from it).
json_matches() { # json_matches JSONFILE TEXTFILE
	python3 - "$1" "$2" <<'PY'
import json, re, sys
raw = open(sys.argv[1]).read()
assert raw.endswith("\n") and raw.count("\n") == 1, "not one line"
j = json.loads(raw)
assert list(j) == ["format_version", "block_size", "feature_flags", "key_slots", "recovery_slot"], list(j)
t = {}
slots = []
for line in open(sys.argv[2]).read().splitlines():
    m = re.fullmatch(r"  slot (\d+): (?:argon2id opslimit=(\d+) memlimit=(\d+) MiB|(recovery key))", line)
    if m:
        if m.group(4):
            slots.append({"slot": int(m.group(1)), "kind": "recovery"})
        else:
            slots.append({"slot": int(m.group(1)), "kind": "argon2id",
                          "opslimit": int(m.group(2)), "memlimit_mib": int(m.group(3))})
        continue
    k, v = line.split(":", 1)
    t[k] = v.strip()
want = {"format_version": int(t["format version"]), "block_size": int(t["block size"]),
        "feature_flags": int(t["feature flags"], 16), "key_slots": slots,
        "recovery_slot": int(re.search(r"slot (\d+)", t["recovery key"]).group(1))
        if t["recovery key"].startswith("present") else None}
assert int(t["key slots"]) == len(slots)
for s in j["key_slots"]:
    assert list(s) == (["slot", "kind"] if s["kind"] == "recovery" else
                       ["slot", "kind", "opslimit", "memlimit_mib"]), list(s)
assert j == want, (j, want)
PY
}
cp "$OUT" "$T/info.txt"
vrun /dev/null info --json "$T/v"
check "info --json exits 0" rc_is 0
check "info --json: nothing on stderr" no_stderr
check "info --json: one line of JSON, the documented keys, the values of the text output" \
	json_matches "$OUT" "$T/info.txt"
check "info --json shows the recovery slot" grep -qF '"recovery_slot":1}' "$OUT"
# The check bites: a value changed is noticed.
sed 's/"block_size":4096/"block_size":4097/' "$OUT" >"$T/bad.json"
check "a JSON output that differs from the text is told apart" not json_matches "$T/bad.json" "$T/info.txt"

# No key material: neither the salt, nonce, wrapped key, MAC nor checksum
# of the header, in hex or base64, nor any long hex/base64 run.
conf_hex=$(od -An -tx1 -v "$T/v/veilfs.conf" | tr -d ' \n')
leak=0
for off in 48 64 88 112 136 168; do
	piece=${conf_hex:$((off * 2)):32}
	grep -qi -- "$piece" "$OUT" && leak=1
	b64=$(python3 -c 'import base64, sys
print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode()[:16])' "$piece")
	grep -qF -- "$b64" "$OUT" && leak=1
done
check "info prints no byte string of the header (salt, nonce, key, MAC)" [ "$leak" = 0 ]
check "info prints no long hex run" not grep -qE '[0-9a-fA-F]{16,}' "$OUT"
check "info prints no long base64 run" not grep -qE '[A-Za-z0-9_+/-]{20,}' "$OUT"

vrun "$P" init --kdf interactive --no-recovery-key "$T/nork"
vrun /dev/null info "$T/nork"
check "info of a volume made with --no-recovery-key: one slot" out_line "key slots:      1"
check "info of a volume made with --no-recovery-key: no recovery slot" \
	out_line "recovery key:   no recovery slot"
cp "$OUT" "$T/nork.txt"
vrun /dev/null info --json "$T/nork"
check "info --json of a volume without recovery slot matches its text output" \
	json_matches "$OUT" "$T/nork.txt"
check "info --json without recovery slot: \"recovery_slot\":null" grep -qF '"recovery_slot":null}' "$OUT"

# info with passphrase sources given still works and reads none.
vrun /dev/null info --passfile "$P" "$T/v"
check "info accepts --passfile and ignores it" rc_is 0

# The committed fixture.
fixture v1
vrun /dev/null info "$T/v1"
check "info on the v1 fixture exits 0" rc_is 0
check "info on the v1 fixture shows format version 1" out_line "format version: 1"

mkdir "$T/empty"
expect_fail "info on an empty directory" 3 /dev/null info "$T/empty"

# Output that cannot be written is an error, not a silent exit 0.
for form in "" --json; do
	# shellcheck disable=SC2086 # $form: no option or one word
	"$VEILFS" info $form "$T/v" </dev/null >/dev/full 2>"$ERR"
	RC=$?
	check "info${form:+ $form} to /dev/full exits 1" rc_is 1
	check "info${form:+ $form} to /dev/full says why" grep -q '^veilfs: info: writing to standard output: ' "$ERR"
done
# --json is for the header: with --mounted a usage error.
vrun /dev/null info --json --mounted "$T/v"
check "info --json --mounted is a usage error" rc_is 2

done_testing
