#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Helpers for bench/run.sh (python3 standard library only).

  report.py fio-iops FIO.json read|write|randread|randwrite
      print the IOPS of the first job of a fio JSON output
  report.py report META.tsv RAW.tsv DAEMONS.tsv OUT.md [REQUESTS.tsv]
      print the results as markdown tables and write them to OUT.md

RAW.tsv lines: rep, fs, workload, value (or ERR), daemon CPU seconds.
REQUESTS.tsv lines (veilfs's request counters, one per opcode that moved
during a measurement): rep, fs, workload, opcode, count, handler ns.
"""
import json
import statistics
import sys

FS_ORDER = ["plain", "bindfs", "gocryptfs", "gocryptfs-xchacha", "securefs", "veilfs"]
REFS = [("gocryptfs-xchacha", "gocryptfs -xchacha"), ("gocryptfs", "gocryptfs (AES-GCM)"),
        ("bindfs", "bindfs (no encryption)")]

# key, label, unit, higher is better
WORKLOADS = [
    ("seq_write", "seq write {seq_mb} MiB of {seq_data_label} (dd bs=1M conv=fsync)", "MiB/s", True),
    ("seq_read", "seq read {seq_mb} MiB, cold cache", "MiB/s", True),
    ("randread_4k_buffered", "fio 4k randread, buffered", "IOPS", True),
    ("randread_4k_direct", "fio 4k randread, O_DIRECT", "IOPS", True),
    ("randwrite_4k_buffered", "fio 4k randwrite, buffered", "IOPS", True),
    ("randwrite_4k_direct", "fio 4k randwrite, O_DIRECT", "IOPS", True),
    ("untar", "untar {tree_files} files ({tree_mib} MiB)", "s", False),
    ("ls_lR", "ls -lR, cold cache", "s", False),
    ("read_sha256", "read + sha256 all files, cold", "s", False),
    ("git_add_commit", "git init+add+commit ({git_files} files)", "s", False),
    ("git_status", "git status, cold cache", "s", False),
    ("rm_tree", "rm -rf the tree", "s", False),
    ("create_empty", "create {create_n} empty files", "s", False),
    ("rm_empty", "rm -rf {create_n} empty files", "s", False),
]


# The rows of the "requests per file" table: workload -> meta key of its file count.
PER_FILE = [("untar", "tree_files"), ("ls_lR", "tree_files"), ("read_sha256", "tree_files"),
            ("git_add_commit", "git_files"), ("git_status", "git_files"),
            ("rm_tree", "tree_files"), ("create_empty", "create_n"), ("rm_empty", "create_n")]
TOP_OPS = 6


def requests_table(meta, path, label_of):
    """Markdown lines: requests per file of each tree row, per filesystem
    that has counters (veilfs), medians over the repetitions."""
    counts = {}  # (fs, wl, op) -> {rep: count};  (fs, wl, op) -> {rep: ns}
    nss = {}
    reps = {}
    for line in open(path, encoding="utf-8"):
        f = line.rstrip("\n").split("\t")
        if len(f) < 6:
            continue
        rep, fs, wl, op, c, ns = f[:6]
        counts.setdefault((fs, wl, op), {})[rep] = int(c)
        nss.setdefault((fs, wl, op), {})[rep] = int(ns)
        reps.setdefault((fs, wl), set()).add(rep)
    L = []
    for fs in sorted({k[0] for k in reps}):
        rows = []
        for wl, key in PER_FILE:
            rs = sorted(reps.get((fs, wl), ()))
            n = int(meta.get(key) or 0)
            if not rs or n <= 0:
                continue
            ops = sorted({k[2] for k in counts if k[:2] == (fs, wl)})

            def med(table, op):
                return statistics.median(table[(fs, wl, op)].get(r, 0) for r in rs)
            per_op = {op: med(counts, op) for op in ops}
            total = sum(per_op.values())
            ns = sum(med(nss, op) for op in ops)
            top = sorted(per_op.items(), key=lambda kv: -kv[1])[:TOP_OPS]
            rows.append([label_of(wl), "%d" % n, "%.2f" % (total / n),
                         "%.1f" % (ns / total / 1000) if total else "–",
                         ", ".join("%s %.2f" % (op, c / n) for op, c in top)])
        if rows:
            L.append("### Requests per file (%s; request counters, median over the repetitions)\n" % fs)
            L.append("Requests the daemon handled during each measurement, divided by the files "
                     "the workload touches; µs/request is the mean handler time (daemon side, "
                     "not the round trip); the last column splits the top %d opcodes "
                     "(requests per file).\n" % TOP_OPS)
            L.append(table(["workload", "files", "requests/file", "µs/request",
                            "top opcodes (per file)"], rows))
            L.append("")
    return L


def fio_iops(path, rw):
    text = open(path, encoding="utf-8", errors="replace").read()
    data = json.loads(text[text.index("{"):])
    key = "read" if "read" in rw else "write"
    print("%.1f" % data["jobs"][0][key]["iops"])


def fmt(v, unit):
    if v is None:
        return "–"
    if unit == "s":
        return "%.3f" % v if v < 1 else "%.2f" % v
    if v >= 1000:
        return "%.0f" % v
    return "%.1f" % v


def table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def report(meta_path, raw_path, daemons_path, out_path, requests_path=None):
    meta = {}
    for line in open(meta_path, encoding="utf-8"):
        k, _, v = line.rstrip("\n").partition("\t")
        meta[k] = v
    for k in ("veilfs", "gocryptfs"):
        meta[k] = meta.get(k, "").replace(k + " " + k, k)
    meta["seq_data_label"] = "random data" if meta.get("seq_data") == "random" else "zeros"
    meta["tree_mib"] = "%.0f" % (int(meta.get("tree_bytes") or 0) / 1048576)

    vals, cpus, errs, unsupported = {}, {}, {}, set()
    for line in open(raw_path, encoding="utf-8"):
        f = line.rstrip("\n").split("\t")
        if len(f) < 4:
            continue
        _, fs, wl, v = f[:4]
        if v == "ERR":
            errs[(fs, wl)] = errs.get((fs, wl), 0) + 1
            continue
        if v == "NA":
            unsupported.add((fs, wl))
            continue
        vals.setdefault((fs, wl), []).append(float(v))
        if len(f) > 4 and f[4]:
            cpus.setdefault((fs, wl), []).append(float(f[4]))

    daemons = []
    for line in open(daemons_path, encoding="utf-8"):
        f = line.rstrip("\n").split("\t")
        daemons.append(f + [""] * (6 - len(f)))
    status = {d[0]: d[1] for d in daemons}
    fss = [fs for fs in FS_ORDER if status.get(fs) == "ok" or any(k[0] == fs for k in vals)]

    ran = {k[1] for k in list(vals) + list(errs) + list(unsupported)}
    global WORKLOADS
    WORKLOADS = [w for w in WORKLOADS if w[0] in ran]

    def med(fs, wl):
        v = vals.get((fs, wl))
        return statistics.median(v) if v else None

    def cell(fs, wl, unit):
        v = vals.get((fs, wl))
        if not v:
            if (fs, wl) in errs:
                return "ERR"
            return "n/a" if (fs, wl) in unsupported else "–"
        m = statistics.median(v)
        s = fmt(m, unit)
        if len(v) > 1 and m > 0:
            s += " ±%.0f%%" % (50 * (max(v) - min(v)) / m)
        if (fs, wl) in errs:
            s += " (%d ERR)" % errs[(fs, wl)]
        return s

    def label(wl):
        return wl[1].format(**meta)

    L = []
    L.append("## Results (%s run, %s)\n" % (meta.get("mode"), meta.get("date")))
    L.append("Backing store: %s. Repetitions: %s, filesystems interleaved within each "
             "repetition; figures are medians, ± is half the min–max range in %% of the median; "
             "n/a: not supported by that filesystem on this backing store."
             % (meta.get("backing"), meta.get("reps")))
    L.append("")
    L.append("Machine: %s cores, %s, %s, %s, %s. Load average %s."
             % (meta.get("nproc"), meta.get("cpu"), meta.get("mem"), meta.get("kernel"),
                meta.get("os"), meta.get("loadavg")))
    L.append("")
    L.append("Versions: %s; %s; securefs %s; %s; %s; libfuse3 %s; libsodium %s."
             % (meta.get("veilfs"), meta.get("gocryptfs"), meta.get("securefs"),
                meta.get("bindfs"), meta.get("fio"), meta.get("libfuse3"), meta.get("libsodium")))
    L.append("")
    missing = [d for d in daemons if d[1] != "ok"]
    for d in missing:
        L.append("- %s: %s" % (d[0], d[1]))
    if missing:
        L.append("")
    L.append("### Medians\n")
    L.append(table(["workload", "unit"] + fss,
                   [[label(w), w[2]] + [cell(fs, w[0], w[2]) for fs in fss] for w in WORKLOADS]))
    L.append("")

    for ref, refname in REFS:
        if ref not in fss:
            continue
        L.append("### Speed relative to %s (same run; >1 = faster)\n" % refname)
        rows = []
        for w in WORKLOADS:
            r = med(ref, w[0])
            row = [label(w)]
            for fs in fss:
                v = med(fs, w[0])
                if r is None or v is None or r == 0 or v == 0:
                    row.append("–")
                else:
                    x = v / r if w[3] else r / v
                    row.append("%.2f" % x)
            rows.append(row)
        L.append(table(["workload"] + fss, rows))
        L.append("")

    fuse_fs = [fs for fs in fss if fs != "plain"]
    if fuse_fs:
        L.append("### Daemon CPU seconds per workload (median; user+system of the FUSE daemon only)\n")
        rows = []
        for w in WORKLOADS:
            row = [label(w)]
            for fs in fuse_fs:
                c = cpus.get((fs, w[0]))
                row.append("%.2f" % statistics.median(c) if c else "–")
            rows.append(row)
        L.append(table(["workload"] + fuse_fs, rows))
        L.append("")
        L.append("### Daemons over the whole run\n")
        rows = []
        for d in daemons:
            if d[0] == "plain":
                continue
            mib = lambda kb: "%.1f" % (int(kb) / 1024) if kb else "–"
            rows.append([d[0], d[1], "%.2f" % float(d[2]) if d[2] else "–", mib(d[3]), mib(d[4]), mib(d[5])])
        L.append(table(["daemon", "status", "CPU s (all reps)", "peak RSS MiB (VmHWM after mount)",
                        "RSS MiB after mount", "RSS MiB at end"], rows))
        L.append("")
    if requests_path:
        labels = {w[0]: label(w) for w in WORKLOADS}
        L += requests_table(meta, requests_path, lambda wl: labels.get(wl, wl))
    L.append("Parameters: seq %s MiB; fio file %s MiB, runtime %s per run, psync, iodepth 1; tree %s files "
             "(%s bytes) from /usr/include and /usr/share/doc; git repo %s (%s files); %s empty files. "
             "Workload groups: %s. Run time %s; errors: %s."
             % (meta.get("seq_mb"), meta.get("fio_mb"), meta.get("fio_runtime") + ("" if meta.get("fio_runtime", "").endswith("s") else " s"),
                meta.get("tree_files"), meta.get("tree_bytes"), meta.get("git_sub"),
                meta.get("git_files"), meta.get("create_n"), meta.get("workloads", "all"),
                meta.get("duration"),
                meta.get("errors")))
    text = "\n".join(L) + "\n"
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)
    sys.stdout.write(text)


def main(argv):
    if len(argv) == 3 and argv[0] == "fio-iops":
        fio_iops(argv[1], argv[2])
    elif len(argv) in (5, 6) and argv[0] == "report":
        report(*argv[1:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
