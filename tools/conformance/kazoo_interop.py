"""One kazoo participant of kazoo-interop.sh: the Python twin of examples/interop_participant.rs.

Takes kazoo's Lock / WriteLock / ReadLock / Election on a path shared with Rust participants,
proves it is alone inside by creating the ephemeral <check>/inside marker (readers: a
<check>/reader-<id> marker, checking no writer is inside), appends its id to <check>/log, and
exits 1 if it ever met someone else inside.

    kazoo_interop.py HOST:PORT MODE PATH CHECK ID ROUNDS HOLD_MS
    kazoo_interop.py HOST:PORT observe PATH ID    (prints kazoo's view of the contenders)
"""
import sys
import time

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError


def critical_section(zk, check, ident, hold, shared):
    inside = check + "/inside"
    marker = None
    if shared:
        marker = check + "/reader-" + ident
        zk.create(marker, ident.encode(), ephemeral=True)
        alone = zk.exists(inside) is None
    else:
        try:
            zk.create(inside, ident.encode(), ephemeral=True)
            marker = inside
            alone = not any(c.startswith("reader-") for c in zk.get_children(check))
        except NodeExistsError:
            alone = False
    log = check + "/log"
    while True:
        data, stat = zk.get(log)
        try:
            zk.set(log, data + (ident + "\n").encode(), version=stat.version)
            break
        except BadVersionError:
            continue
    time.sleep(hold)
    if marker:
        zk.delete(marker)
    return alone


def main():
    hosts, mode = sys.argv[1], sys.argv[2]
    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(timeout=30)
    if mode == "observe":
        path, ident = sys.argv[3], sys.argv[4]
        lock = zk.Lock(path, ident)
        print("contenders", lock.contenders())
        got = lock.acquire(blocking=False)
        print("acquired" if got else "blocked")
        if got:
            lock.release()
        zk.stop()
        return 0
    path, check, ident = sys.argv[3], sys.argv[4], sys.argv[5]
    rounds, hold = int(sys.argv[6]), int(sys.argv[7]) / 1000.0
    zk.ensure_path(check + "/log")
    overlaps = 0
    for r in range(rounds):
        if mode == "election":
            election = zk.Election(path, ident)
            result = []
            election.run(lambda: result.append(critical_section(zk, check, ident, hold, False)))
            alone = result[0]
            print("%s led %s (round %d)" % (ident, path, r), flush=True)
        else:
            lock = {"lock": zk.Lock, "write": zk.WriteLock, "read": zk.ReadLock}[mode](path, ident)
            with lock:
                print("%s holds %s %s (round %d)" % (ident, mode, path, r), flush=True)
                alone = critical_section(zk, check, ident, hold, mode == "read")
        if not alone:
            print("OVERLAP: %s was not alone in round %d" % (ident, r), flush=True)
            overlaps += 1
    zk.stop()
    return 1 if overlaps else 0


if __name__ == "__main__":
    sys.exit(main())
