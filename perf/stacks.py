#!/usr/bin/env python3
"""Where each server thread's time goes, from `perf script` output with call graphs.

    perf/stacks.py SCRIPT_TXT [--thread PREFIX FUNCTION...]...

For each thread name prefix (default: rk-consensus, rk-net, rk-log) it prints the thread's
share of all samples, then for each FUNCTION (a substring of a symbol) the share of the
thread's samples with that function on the stack, and what it called directly in them: the
inclusive view `perf report --children` gives, but split by callee and per thread, which
`perf report` does not do when several processes share thread names. perf/profile.sh
--callgraph runs it.
"""
import collections
import re
import sys

DEFAULT = [
    ("rk-consensus", ["ConsensusCore::run", "apply_body", "run_zab", "outbox"]),
    ("rk-net", ["CoreGuard::block_on", "drain_mailbox", "conn::serve"]),
    ("rk-log", ["group_commit::run", "LogBackend>::submit"]),
]


def read_stacks(path):
    """(thread name, [leaf frame, ..., root frame]) per sample."""
    out, comm, frames = [], None, None
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if frames is not None:
                    out.append((comm, frames))
                comm, frames = None, None
            elif line[0] in " \t":
                parts = line.strip().split(" ", 1)
                if frames is not None and len(parts) == 2:
                    sym = parts[1].rsplit(" (", 1)[0]
                    frames.append(re.sub(r"\+0x[0-9a-f]+$", "", sym))
            else:
                comm, frames = line.split()[0], []
    if frames is not None:
        out.append((comm, frames))
    return out


def report(stacks, prefix, functions, width=110):
    mine = [f for c, f in stacks if c.startswith(prefix)]
    if not mine:
        print(f"{prefix}: no samples")
        return
    print(f"{prefix}: {len(mine)} samples, {100 * len(mine) / len(stacks):.1f}% of all")
    for fn in functions:
        callees, n = collections.Counter(), 0
        for frames in mine:
            at = [i for i, x in enumerate(frames) if fn in x]
            if not at:
                continue
            n += 1
            i = max(at)  # the outermost call, so recursion counts once
            callees[frames[i - 1][:width] if i > 0 else "<self>"] += 1
        print(f"  {fn}: {100 * n / len(mine):.1f}%")
        for callee, k in callees.most_common(8):
            print(f"    {100 * k / len(mine):5.1f}%  {callee}")


def main(argv):
    if len(argv) < 2 or argv[1].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    stacks = read_stacks(argv[1])
    wanted, rest = [], argv[2:]
    while rest:
        if rest[0] != "--thread" or len(rest) < 2:
            print(__doc__.strip(), file=sys.stderr)
            return 2
        prefix, rest = rest[1], rest[2:]
        fns = []
        while rest and rest[0] != "--thread":
            fns.append(rest.pop(0))
        wanted.append((prefix, fns))
    for prefix, fns in wanted or DEFAULT:
        report(stacks, prefix, fns)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
