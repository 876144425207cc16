#!/usr/bin/env bash
# Runs zkserver --demo behind the shipped scripts/nginx.conf (real nginx,
# TLS with a throw-away self-signed certificate, all on loopback) and throws
# hostile clients at nginx while a legitimate client keeps being served.
# Needs nginx and openssl (Debian packages); scripts/test.sh says when it
# could not run this for lack of them.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in nginx openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "nginx-test.sh: $tool is not installed" >&2; exit 1; }
done
source scripts/lib.sh
dir=$WORK
# nginx's workers (another user when run as root) write large upload bodies
# to a temporary folder inside it.
chmod 755 "$dir"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# With --push-port, as the README tells: nginx sends /iclock to that port.
start_server backend --demo --log-level warn --push-port 0
push_backend=$(sed -n 's/.*push terminals (\/iclock only) also on http:\/\/\([0-9.:]*\).*/\1/p' "$WORK"/server.*)
[ -n "$push_backend" ] || { echo "nginx-test.sh: the push port was not announced" >&2; exit 1; }

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
tls_port=$(free_port)
http_port=$(free_port)
# The shipped site config, with loopback ports, the test certificate and the
# demo server as upstream; everything else exactly as shipped.
sed -e "s|listen 443 ssl;|listen 127.0.0.1:$tls_port ssl;|" \
    -e "s|listen 80;|listen 127.0.0.1:$http_port;|" \
    -e "/listen \[::\]/d" \
    -e "s|/etc/ssl/certs/zkserver.crt|$dir/cert.pem|" \
    -e "s|/etc/ssl/private/zkserver.key|$dir/key.pem|" \
    -e "/upstream zkserver_push/,/}/ s|server 127.0.0.1:5000;|server $push_backend;|" \
    -e "s|server 127.0.0.1:5000;|server $backend;|" \
    scripts/nginx.conf > "$dir/site.conf"
cat > "$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 2048; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include $dir/site.conf;
}
CONF
nginx -t -c "$dir/nginx.conf" -p "$dir" 2>&1 | tail -1
# Both /iclock locations go to the push upstream, and it to --push-port.
[ "$(grep -c 'proxy_pass http://zkserver_push;' "$dir/site.conf")" = 2 ] &&
  grep -A1 'upstream zkserver_push' "$dir/site.conf" | grep -q "server $push_backend;" ||
  { echo "nginx-test.sh: /iclock does not go to the --push-port upstream" >&2; exit 1; }
nginx -c "$dir/nginx.conf" -p "$dir" &
PIDS+=($!)
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $tls_port), 1)" 2>/dev/null && break; sleep 0.05; done

echo "nginx (TLS on 127.0.0.1:$tls_port) -> zkserver on $backend; hostile clients vs a legitimate one:"
passed=0 failed=0
if python3 scripts/hostile.py 127.0.0.1 "$tls_port" --tls; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
# Live punches through nginx: the demo terminal punches every 4 s; the event
# must come through unbuffered.
echo "live punches through nginx:"
if python3 - "$tls_port" <<'PY'
import socket, ssl, sys, time
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
s = ctx.wrap_socket(raw, server_hostname="localhost")
s.sendall(b"GET /devices/principal/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
s.settimeout(1)
got, start = b"", time.time()
while b"event: punch" not in got and time.time() - start < 15:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        continue
    if not chunk:
        break
    got += chunk
ok = b"event: punch" in got and b"text/event-stream" in got
print("  a punch arrived through nginx in %.1f s" % (time.time() - start) if ok else "  no punch came through: %r" % got[:300])
sys.exit(0 if ok else 1)
PY
then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
echo "event streams per client through nginx:"
if python3 - "$tls_port" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def open_stream(path):
    raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    s.settimeout(10)
    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    return s, int(got.split()[1]) if got.startswith(b"HTTP/") else 0
# One address opens 6 streams: nginx lets 4 through, the others get 503.
streams = [open_stream(b"/events") for _ in range(6)]
statuses = sorted(status for _, status in streams)
ok = statuses == [200, 200, 200, 200, 503, 503]
s, status = open_stream(b"/health")
ok = ok and status == 200
print("  6 streams from one address: %s; /health meanwhile: %d" % (statuses, status))
sys.exit(0 if ok else 1)
PY
then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
echo "office panel through nginx:"
# To a file first: `grep -q` stops reading at the first match, and curl then
# fails writing the rest of a large page (exit 23, a failed pipeline).
if curl -fsSk -D "$dir/panel.headers" -o "$dir/panel.html" "https://127.0.0.1:$tls_port/panel" &&
   grep -q "Relojes de asistencia" "$dir/panel.html" &&
   grep -qi "^content-security-policy: default-src 'none'" "$dir/panel.headers"; then
  echo "  /panel served with its Content-Security-Policy"
  passed=$((passed + 1))
else
  echo "  /panel not served through nginx"
  failed=$((failed + 1))
fi
echo "push terminals (/iclock) through nginx:"
if python3 - "$tls_port" "$http_port" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def exchange(port, tls, request):
    raw = socket.create_connection(("127.0.0.1", int(port)), 10)
    s = ctx.wrap_socket(raw, server_hostname="localhost") if tls else raw
    s.settimeout(60)
    s.sendall(request)
    got = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (socket.timeout, ConnectionResetError, ssl.SSLError):
            break
        if not chunk:
            break
        got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0] else 0
    headers = {l.split(b":", 1)[0].strip().lower(): l.split(b":", 1)[1].strip() for l in lines[1:] if b":" in l}
    return status, headers, body
def req(method, target, body=b"", version="HTTP/1.0"):
    return (f"{method} {target} {version}\r\nHost: localhost\r\nUser-Agent: iClock Proxy/1.09\r\n"
            f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
ok = True
def check(name, cond):
    global ok
    print(("  ok   " if cond else "  FAIL ") + name)
    ok = ok and cond
tls, http = sys.argv[1], sys.argv[2]
for port, is_tls, label in [(tls, True, "https"), (http, False, "http")]:
    st, h, body = exchange(port, is_tls, req("GET", "/iclock/cdata?SN=DEMOPUSH0001&options=all&pushver=2.4.1"))
    check(f"{label}: handshake answered with options, Content-Length and Date",
          st == 200 and b"GET OPTION FROM: DEMOPUSH0001" in body and b"TimeZone=" in body
          and b"content-length" in h and b"date" in h and b"transfer-encoding" not in h)
# The demo terminal is pinned to its address (127.0.0.1): a client naming
# another address in X-Real-IP must not be taken at its word (nginx sets
# the header to the real peer, a trusted proxy's only).
forged = req("GET", "/iclock/getrequest?SN=DEMOPUSH0001").replace(
    b"Host: localhost\r\n", b"Host: localhost\r\nX-Real-IP: 203.0.113.9\r\nX-Forwarded-For: 203.0.113.9\r\n")
st, h, body = exchange(http, False, forged)
check(f"a forged X-Real-IP through nginx is replaced by the real address: {st} {body[:40]!r}", st == 200)
# A 2 MiB upload (over the API's 64 KiB) passes; 17 MiB does not.
lines = b"".join(b"%d\t2024-%02d-%02d %02d:%02d:00\t0\t1\t\t0\t0\n" % (900000 + i, 1 + i % 12, 1 + i % 28, i % 24, i % 60) for i in range(60000))
st, h, body = exchange(http, False, req("POST", "/iclock/cdata?SN=DEMOPUSH0001&table=ATTLOG&Stamp=1", lines, "HTTP/1.1"))
check(f"{len(lines) // 1024} KiB ATTLOG upload over plain http stored (OK:n): {st} {body[:60]!r}", st == 200 and body.startswith(b"OK:"))
# A backlog from many terminals behind one NAT: 300 uploads, 60 at a time,
# from one address, none refused (no request rate limit on /iclock; a 503
# costs a terminal 30 s).
import concurrent.futures
def upload(i):
    body = b"%d\t2025-01-%02d %02d:%02d:%02d\t0\t1\t\t0\t0\n" % (800000 + i, 1 + i % 28, i % 24, i % 60, i % 60)
    port, is_tls = (tls, True) if i % 2 else (http, False)
    st, h, answer = exchange(port, is_tls, req("POST", "/iclock/cdata?SN=DEMOPUSH0001&table=ATTLOG&Stamp=%d" % (i + 2), body, "HTTP/1.1"))
    return st, answer[:40]
with concurrent.futures.ThreadPoolExecutor(60) as pool:
    results = list(pool.map(upload, range(300)))
refused = [r for r in results if not (r[0] == 200 and r[1].startswith(b"OK"))]
check(f"a burst of {len(results)} uploads (60 at a time, one address) never refused: {len(refused)} refused {refused[:3]}",
      not refused)
st, h, body = exchange(tls, True, req("POST", "/iclock/cdata?SN=DEMOPUSH0001&table=ATTPHOTO", b"A" * (17 * 1024 * 1024)))
check("17 MiB upload refused with 413", st == 413)
st, h, body = exchange(http, False, req("GET", "/devices"))
check("plain http outside /iclock redirects to https", st == 301)
sys.exit(0 if ok else 1)
PY
then
  passed=$((passed + 1))
else
  tail -5 "$dir/error.log" >&2 || true
  failed=$((failed + 1))
fi
echo "nginx: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
