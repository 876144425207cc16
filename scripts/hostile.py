"""Hostile HTTP clients against a server on loopback, while a legitimate
client keeps asking for data; checks that the legitimate client is served.

Usage: hostile.py HOST PORT [--tls]
Attackers connect from 127.0.0.2 and up (other loopback addresses), the
legitimate client from 127.0.0.1, like distinct machines. Talks only to
loopback. Exit 0 when every legitimate request succeeded promptly.
"""
import socket
import ssl
import sys
import threading
import time
import urllib.request

HOST, PORT = sys.argv[1], int(sys.argv[2])
TLS = "--tls" in sys.argv
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE

results = {}
lock = threading.Lock()


def note(kind, outcome):
    with lock:
        results.setdefault(kind, {}).setdefault(outcome, 0)
        results[kind][outcome] += 1


def connect(source, tls=TLS):
    s = socket.create_connection((HOST, PORT), timeout=20, source_address=(source, 0))
    return CTX.wrap_socket(s) if tls else s


def status_of(sock):
    try:
        data = sock.recv(4096)
        parts = data.split(b" ", 2)
        return parts[1].decode() if len(parts) > 1 and data.startswith(b"HTTP/") else "closed"
    except OSError as e:
        return type(e).__name__


def idle(source, hold):
    try:
        s = socket.create_connection((HOST, PORT), timeout=20, source_address=(source, 0))
        hold.append(s)
        note("idle connection", "open")
    except OSError as e:
        note("idle connection", type(e).__name__)


def slowloris(source):
    try:
        s = connect(source)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        for _ in range(30):
            time.sleep(0.5)
            s.sendall(b"X-a: b\r\n")
        note("slowloris", "never cut off")
    except OSError as e:
        note("slowloris", "cut off (%s)" % type(e).__name__)


def one_shot(kind, source, payload):
    try:
        s = connect(source)
        try:
            s.sendall(payload)
        except OSError:
            pass
        note(kind, status_of(s))
    except (OSError, ssl.SSLError) as e:
        note(kind, type(e).__name__)


def garbage(source):
    try:
        s = socket.create_connection((HOST, PORT), timeout=20, source_address=(source, 0))
        s.sendall(bytes((i * 7919) % 256 for i in range(4000)))
        note("garbage", status_of(s))
    except OSError as e:
        note("garbage", type(e).__name__)


def main():
    scheme = "https" if TLS else "http"
    url = "%s://%s:%d/devices/principal/attendance?limit=1&pretty=0" % (scheme, HOST, PORT)
    hold = []
    threads = []
    sources = ["127.0.0.%d" % i for i in range(2, 12)]
    for i in range(200):
        idle(sources[i % len(sources)], hold)
    for i in range(30):
        threads.append(threading.Thread(target=slowloris, args=(sources[i % len(sources)],)))
    big = b"POST /devices HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{}"
    endless = b"GET /health HTTP/1.1\r\nX-Long: " + b"a" * (1 << 20)
    for i in range(10):
        src = sources[i % len(sources)]
        threads.append(threading.Thread(target=one_shot, args=("huge Content-Length", src, big)))
        threads.append(threading.Thread(target=one_shot, args=("endless header", src, endless)))
        threads.append(threading.Thread(target=garbage, args=(src,)))
    for t in threads:
        t.start()

    failures = 0
    latencies = []
    deadline = time.time() + 12
    while time.time() < deadline:
        started = time.time()
        try:
            with urllib.request.urlopen(url, timeout=5, context=CTX if TLS else None) as resp:
                ok = resp.status == 200 and b'"success":true' in resp.read()
        except Exception as e:  # noqa: BLE001 - any failure counts
            print("legitimate request failed: %r" % e)
            ok = False
        latencies.append(time.time() - started)
        if not ok or latencies[-1] > 3:
            failures += 1
        time.sleep(0.3)
    for t in threads:
        t.join()
    for s in hold:
        s.close()

    for kind in sorted(results):
        print("  %-20s %s" % (kind, ", ".join("%s: %d" % kv for kv in sorted(results[kind].items()))))
    print("  legitimate client: %d requests, %d failed, slowest %.3f s"
          % (len(latencies), failures, max(latencies) if latencies else 0))
    return 1 if failures or not latencies else 0


if __name__ == "__main__":
    sys.exit(main())
