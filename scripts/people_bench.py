"""The pyzk half of `examples/people_bench.rs` (a benchmark, not a test):
read every user and template of one simulated terminal with pyzk
(`get_users` + `get_templates`) and write them to another
(`HR_save_usertemplates`, one batch), as pyzk users copy templates. pyzk
0.9 (PyPI, what scripts/conformance.sh installs) has no
`HR_save_usertemplates` yet: `hr_save_usertemplates` below is pyzk
master's, on pyzk 0.9's own `_send_with_buffer` and packers.
Prints the seconds taken. Talks only to 127.0.0.1.

Usage: people_bench.py SOURCE_PORT TARGET_PORT
"""
import sys
import time

import zk.base
from struct import pack

from zk import ZK
from zk.finger import Finger

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import conformance  # noqa: E402  (frame-paced sockets: pyzk's TCP reassembly bug)

zk.base.socket = conformance.make_socket


def connect(port):
    return ZK("127.0.0.1", port=int(port), timeout=60, ommit_ping=True).connect()


def hr_save_usertemplates(conn, pairs):
    """pyzk master's HR_save_usertemplates: every user and template in one
    buffer (users, table, templates), then CMD 110 subcode 12."""
    upack = b""
    table = b""
    fpack = b""
    fnum = 0x10
    tstart = 0
    for user, fingers in pairs:
        upack += user.repack29() if conn.user_packet_size == 28 else user.repack73()
        for finger in fingers:
            tfp = finger.repack_only()
            table += pack("<bHbI", 2, user.uid, fnum + finger.fid, tstart)
            tstart += len(tfp)
            fpack += tfp
    head = pack("III", len(upack), len(table), len(fpack))
    conn._send_with_buffer(head + upack + table + fpack)
    reply = conn._ZK__send_command(110, pack("<IHH", 12, 0, 8))
    if not reply.get("status"):
        raise RuntimeError("the terminal refused the batch")
    conn.refresh_data()


def main():
    source_port, target_port = sys.argv[1:3]
    start = time.monotonic()
    src = connect(source_port)
    src.disable_device()
    users = src.get_users()
    templates = src.get_templates()
    src.enable_device()
    src.disconnect()
    read = time.monotonic()
    by_uid = {}
    for t in templates:
        by_uid.setdefault(t.uid, []).append(Finger(t.uid, t.fid, t.valid, t.template))
    pairs = [[u, by_uid.get(u.uid, [])] for u in users if u.uid in by_uid]
    dst = connect(target_port)
    dst.disable_device()
    dst.get_users()  # pyzk learns the target's record size here
    hr_save_usertemplates(dst, pairs)
    dst.enable_device()
    dst.disconnect()
    done = time.monotonic()
    print("%.3f %.3f %d %d" % (read - start, done - read, len(users), len(templates)))


if __name__ == "__main__":
    main()
