"""Reads a running `zkserver simulate` terminal with pyzk and compares what
pyzk sees with what the simulator says it holds (`simulate --dump`).

Usage: conformance.py PORT PASSWORD udp|tcp DUMP_JSON_FILE
       conformance.py --api-user PORT udp|tcp SERVER_ADDR USER_FORMAT
The second form creates a user through zkserver's API (POST
/devices/t/users) and checks that pyzk reads it back with the same fields.
Exit status 0 when everything matches, 1 otherwise.
"""
import json
import socket
import struct
import sys
import urllib.request

import zk.base
from zk import ZK

# The ZK TCP prefix: magic 0x5050, 0x7D82, then the u32 length of the packet.
TCP_MAGIC = (0x5050, 0x7D82)
# Larger than any frame a terminal sends (zk-protocol.md §1.3): corruption.
MAX_FRAME = 1 << 20


class FramePacedSocket:
    """A TCP socket whose reads never cross a ZK frame boundary.

    pyzk 0.9 reassembles a chunk sent as 1008-byte DATA frames (what real
    terminals send: zk-vectors.md V13, V14) with one blocking recv() per
    frame, and it never looks at the bytes it already holds before asking
    for more (`__recieve_tcp_data`). When the frames arrive faster than pyzk
    reads them -- always on loopback, and on a loaded machine even with a
    delay between frames -- its buffer ends up holding the rest of the chunk
    and the closing ACK, and its next recv() waits for bytes that were
    already sent: it hangs until its timeout. That is pyzk's bug, not the
    simulator's, so instead of slowing the simulator down and hoping, this
    socket hands pyzk at most one frame per read, like a terminal whose
    frames trickle in. The bytes are not changed; every frame's prefix is
    checked, so a framing bug in the simulator still fails the run.
    """

    def __init__(self, *args):
        self._sock = socket.socket(*args)
        self._pending = b""

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def _read_exactly(self, n):
        out = b""
        while len(out) < n:
            part = self._sock.recv(n - len(out))
            if not part:
                raise ConnectionError("the simulator closed the connection mid-frame")
            out += part
        return out

    def recv(self, size):
        if not self._pending:
            prefix = self._read_exactly(8)
            magic1, magic2, length = struct.unpack("<HHI", prefix)
            if (magic1, magic2) != TCP_MAGIC or not 8 <= length <= MAX_FRAME:
                raise ValueError("the simulator sent a bad TCP frame prefix %s" % prefix.hex())
            self._pending = prefix + self._read_exactly(length)
        out, self._pending = self._pending[:size], self._pending[size:]
        return out


def make_socket(family, kind):
    """What pyzk gets instead of socket.socket: TCP sockets are frame-paced."""
    if kind == socket.SOCK_STREAM:
        return FramePacedSocket(family, kind)
    return socket.socket(family, kind)


zk.base.socket = make_socket


def connect(port, password, transport):
    zk_ = ZK("127.0.0.1", port=int(port), timeout=30, password=int(password),
             force_udp=(transport == "udp"), ommit_ping=True)
    return zk_.connect()


def api_user(port, transport, server, user_format):
    small = user_format == "28"
    sent = {"user_id": "777", "name": "Creado" if small else "Creado por API",
            "privilege": 14, "card": 123456, "password": "4321"}
    req = urllib.request.Request("http://%s/devices/t/users" % server, data=json.dumps(sent).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer = json.load(resp)
    conn = connect(port, 0, transport)
    try:
        users = conn.get_users()
    finally:
        conn.disconnect()
    found = [u for u in users if u.user_id == "777"]
    label = "%s %s-byte users" % (transport, user_format)
    if len(found) != 1:
        print("FAIL %s: pyzk does not see the user created through the API (%s)" % (label, answer))
        return 1
    u = found[0]
    got = {"user_id": u.user_id, "name": u.name, "privilege": u.privilege, "card": u.card,
           "password": u.password}
    if got != sent or u.uid != answer["data"]["uid"]:
        print("FAIL %s: pyzk read %s uid %s, the API wrote %s uid %s" % (label, got, u.uid, sent, answer["data"]["uid"]))
        return 1
    print("ok   %s: pyzk reads the user created through the API identically (uid %d)" % (label, u.uid))
    return 0


def template_problems(want, templates, one):
    """Differences between the simulator's templates and what pyzk read in
    bulk (CMD_DB_RRQ) and one by one (CMD 88). Only lengths are printed:
    templates are biometric data, even synthetic ones are never shown."""
    problems = []
    want_t = [(t["uid"], t["finger"], t["valid"], bytes.fromhex(t["template_hex"])) for t in want]
    got_t = [(f.uid, f.fid, f.valid, f.template) for f in templates]
    if got_t != want_t:
        diff = next((i for i, (g, w) in enumerate(zip(got_t, want_t)) if g != w), None)
        problems.append("templates differ: got %d, want %d; first difference at entry %s" % (
            len(got_t), len(want_t), diff))
    if want_t and (one is None or one.template != want_t[0][3]):
        problems.append("single template read differs: got %s bytes, want %d" % (
            None if one is None else len(one.template), len(want_t[0][3])))
    return problems


def copied_templates(port, transport, dump_file):
    """pyzk reads the templates zkserver wrote (a batch, examples/template_copy.rs)
    and compares them with the source terminal's dump."""
    with open(dump_file, encoding="utf-8") as f:
        want = json.load(f)
    conn = connect(port, 0, transport)
    try:
        conn.disable_device()
        templates = conn.get_templates()
        first = want["templates"][0]
        one = conn.get_user_template(first["uid"], first["finger"])
        conn.enable_device()
    finally:
        conn.disconnect()
    problems = template_problems(want["templates"], templates, one)
    for p in problems:
        print("FAIL %s: %s" % (transport, p))
    if not problems:
        print("ok   %s: pyzk reads the %d templates zkserver wrote identically" % (transport, len(templates)))
    return 1 if problems else 0


def main():
    if sys.argv[1] == "--api-user":
        return api_user(*sys.argv[2:6])
    if sys.argv[1] == "--copied-templates":
        return copied_templates(*sys.argv[2:5])
    port, password, transport, dump_file = sys.argv[1:5]
    with open(dump_file, encoding="utf-8") as f:
        want = json.load(f)
    conn = connect(port, password, transport)
    try:
        conn.disable_device()
        users = conn.get_users()
        attendance = conn.get_attendance()
        templates = conn.get_templates()
        first = want["templates"][0] if want["templates"] else None
        one = conn.get_user_template(first["uid"], first["finger"]) if first else None
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

    problems += template_problems(want["templates"], templates, one)

    label = "%s key=%s" % (transport, password)
    if problems:
        for p in problems:
            print("FAIL %s: %s" % (label, p))
        return 1
    print("ok   %s: pyzk read %d users, %d punches and %d templates identically" % (
        label, len(got_users), len(got_att), len(templates)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
