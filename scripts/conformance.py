"""Reads a running `zkserver simulate` terminal with pyzk and compares what
pyzk sees with what the simulator says it holds (`simulate --dump`).

Usage: conformance.py PORT PASSWORD udp|tcp DUMP_JSON_FILE
Exit status 0 when users and attendance match exactly, 1 otherwise.
"""
import json
import sys

from zk import ZK


def main():
    port, password, transport, dump_file = sys.argv[1:5]
    with open(dump_file, encoding="utf-8") as f:
        want = json.load(f)
    zk = ZK("127.0.0.1", port=int(port), timeout=10, password=int(password),
            force_udp=(transport == "udp"), ommit_ping=True)
    conn = zk.connect()
    try:
        conn.disable_device()
        users = conn.get_users()
        attendance = conn.get_attendance()
        conn.enable_device()
    finally:
        conn.disconnect()

    problems = []
    want_users = []
    for u in want["users"]:
        name = bytes.fromhex(u["name_hex"]).decode("utf-8", errors="ignore").strip()
        want_users.append((u["uid"], u["user_id"], name or "NN-%s" % u["user_id"], u["privilege"], u["card"]))
    got_users = [(u.uid, u.user_id, u.name, u.privilege, u.card) for u in users]
    if got_users != want_users:
        problems.append("users differ: got %d, want %d; first difference %s" % (
            len(got_users), len(want_users),
            next(((g, w) for g, w in zip(got_users, want_users) if g != w), None)))

    want_att = [(a["user_id"], a["timestamp"], a["status"], a["punch"]) for a in want["attendance"]]
    got_att = [(str(a.user_id), a.timestamp.strftime("%Y-%m-%d %H:%M:%S"), a.status, a.punch)
               for a in attendance]
    if got_att != want_att:
        problems.append("attendance differs: got %d, want %d; first difference %s" % (
            len(got_att), len(want_att),
            next(((g, w) for g, w in zip(got_att, want_att) if g != w), None)))

    label = "%s key=%s" % (transport, password)
    if problems:
        for p in problems:
            print("FAIL %s: %s" % (label, p))
        return 1
    print("ok   %s: pyzk read %d users and %d punches identically" % (label, len(got_users), len(got_att)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
