#!/usr/bin/env python3
"""The fleet drills' load client: HTTP requests by service NAME, bounded in count and time.

load_client.py --url http://NAME:PORT/PATH [--url ...] --count N --duration SECONDS
               [--interval 0.05] [--workers 4] [--timeout 2] [--established URL]

Request i starts at i * interval after the start (WORKERS threads take the next request number;
one that is late starts at once), on the URL i mod the number of URLs. Every request resolves the
name first (getaddrinfo through the namespace's resolv.conf, IPv4, as an application does: a DNS
look-up per request, glibc has no cache), then opens a new TCP connection to the first address,
sends one GET with Connection: close and reads the answer, each step with the timeout.
With --established, one more thread opens one connection to that URL at the start and sends a GET
on it every interval, keeping it open (HTTP/1.1 keep-alive): a connection established before
whatever the drill does, used across it. When it breaks, that is counted and a new one is made.

Stops after COUNT requests or DURATION seconds, whichever comes first. One line per request on
stdout (times in ms since the start):
  start EPOCH_MS
  req I T URL ok ANSWER ADDRESS DNS_MS TOTAL_MS LOCALPORT
  req I T URL fail KIND ADDRESS DNS_MS TOTAL_MS DETAIL LOCALPORT
  est I T ok ANSWER LOCALPORT TOTAL_MS  |  est I T fail KIND LOCALPORT TOTAL_MS DETAIL  |  est-connect T LOCALPORT
  done SENT
KIND: dns:EAI_... (the look-up failed), connect-timeout, connect-refused, connect:ERRNO,
read-timeout, reset, read:ERRNO, http-STATUS, bad-answer. LOCALPORT: the request's source port
(- when there was none): a drill that sees a connection fail can look for its conntrack entry.
"""
import argparse
import errno
import socket
import sys
import threading
import time
import urllib.parse

p = argparse.ArgumentParser()
p.add_argument("--url", action="append", required=True)
p.add_argument("--count", type=int, required=True)
p.add_argument("--duration", type=float, required=True)
p.add_argument("--interval", type=float, default=0.05)
p.add_argument("--workers", type=int, default=4)
p.add_argument("--timeout", type=float, default=2.0)
p.add_argument("--established")
args = p.parse_args()
if args.count < 1 or args.count > 100000 or args.duration <= 0 or args.duration > 600 or args.workers < 1 or args.workers > 32:
    sys.exit("load_client: count 1-100000, duration up to 600 s, 1-32 workers")

GAI = {getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_")}
out_lock = threading.Lock()
start = time.monotonic()
deadline = start + args.duration
stopping = threading.Event()


def emit(line):
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def ms(seconds):
    return int(round(seconds * 1000))


def split(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port or 80, (u.path or "/")


def resolve(host, port):
    """(address, None) or (None, kind, detail)."""
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as e:
        return None, "dns:" + GAI.get(e.errno, str(e.errno)), str(e).replace(" ", "_")
    if not infos:
        return None, "dns:empty", "-"
    return infos[0][4], None, None


def oserror_kind(prefix, e):
    if isinstance(e, socket.timeout):
        return prefix + "-timeout"
    if isinstance(e, ConnectionRefusedError):
        return prefix + "-refused"
    if isinstance(e, ConnectionResetError):
        return "reset"
    return prefix + ":" + errno.errorcode.get(e.errno or 0, str(e.errno))


def read_response(s, keep_alive):
    """Reads one HTTP response from s: (status, body). With keep_alive, by Content-Length; else to EOF."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionResetError(errno.ECONNRESET, "closed before the headers")
        buf += chunk
        if len(buf) > 65536:
            raise ValueError("headers too long")
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = None
    for h in lines[1:]:
        k, _, v = h.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    if keep_alive:
        if length is None:
            raise ValueError("no Content-Length on a keep-alive answer")
        while len(body) < length:
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionResetError(errno.ECONNRESET, "closed in the body")
            body += chunk
    else:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            body += chunk
    return status, body.decode("utf-8", "replace").strip()


def local_port(s):
    try:
        return str(s.getsockname()[1])
    except OSError:
        return "-"


def one(i, url):
    host, port, path = split(url)
    t0 = time.monotonic()
    addr, kind, detail = resolve(host, port)
    t_dns = time.monotonic()
    a = "-" if addr is None else addr[0]
    if addr is None:
        return "fail %s %s %d %d %s -" % (kind, a, ms(t_dns - t0), ms(t_dns - t0), detail)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(args.timeout)
    try:
        try:
            s.connect(addr)
        except OSError as e:
            return "fail %s %s %d %d %s %s" % (oserror_kind("connect", e), a, ms(t_dns - t0), ms(time.monotonic() - t0),
                                               str(e).replace(" ", "_") or "-", local_port(s))
        lp = local_port(s)
        try:
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
            status, body = read_response(s, False)
        except OSError as e:
            return "fail %s %s %d %d %s %s" % (oserror_kind("read", e), a, ms(t_dns - t0), ms(time.monotonic() - t0),
                                               str(e).replace(" ", "_") or "-", lp)
        except ValueError as e:
            return "fail bad-answer %s %d %d %s %s" % (a, ms(t_dns - t0), ms(time.monotonic() - t0), str(e).replace(" ", "_"), lp)
        if status != 200:
            return "fail http-%d %s %d %d - %s" % (status, a, ms(t_dns - t0), ms(time.monotonic() - t0), lp)
        if not body or " " in body:
            return "fail bad-answer %s %d %d %s %s" % (a, ms(t_dns - t0), ms(time.monotonic() - t0),
                                                       repr(body[:40]).replace(" ", "_"), lp)
        return "ok %s %s %d %d %s" % (body, a, ms(t_dns - t0), ms(time.monotonic() - t0), lp)
    finally:
        s.close()


counter_lock = threading.Lock()
counter = [0]
sent = [0]


def worker():
    while True:
        with counter_lock:
            i = counter[0]
            if i >= args.count:
                return
            counter[0] += 1
        at = start + i * args.interval
        now = time.monotonic()
        if at > now:
            time.sleep(min(at - now, max(0.0, deadline - now)))
        if time.monotonic() >= deadline:
            return
        url = args.url[i % len(args.url)]
        t = ms(time.monotonic() - start)
        result = one(i, url)
        with counter_lock:
            sent[0] += 1
        emit("req %d %d %s %s" % (i, t, url, result))


def established():
    host, port, path = split(args.established)
    s = None
    local = "-"
    i = 0
    while not stopping.is_set() and time.monotonic() < deadline:
        t = time.monotonic()
        if s is None:
            addr, kind, detail = resolve(host, port)
            if addr is None:
                emit("est %d %d fail %s - %d %s" % (i, ms(t - start), kind, ms(time.monotonic() - t), detail))
                i += 1
                time.sleep(args.interval)
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(args.timeout)
            try:
                s.connect(addr)
                local = str(s.getsockname()[1])
                emit("est-connect %d %s" % (ms(time.monotonic() - start), local))
            except OSError as e:
                emit("est %d %d fail %s - %d %s" % (i, ms(t - start), oserror_kind("connect", e), ms(time.monotonic() - t),
                                                   str(e).replace(" ", "_") or "-"))
                s.close()
                s = None
                i += 1
                time.sleep(args.interval)
                continue
        try:
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode())
            status, body = read_response(s, True)
            if status != 200 or not body:
                raise ValueError("status %d body %r" % (status, body[:40]))
            emit("est %d %d ok %s %s %d" % (i, ms(t - start), body, local, ms(time.monotonic() - t)))
        except (OSError, ValueError) as e:
            kind = oserror_kind("read", e) if isinstance(e, OSError) else "bad-answer"
            emit("est %d %d fail %s %s %d %s" % (i, ms(t - start), kind, local, ms(time.monotonic() - t),
                                                str(e).replace(" ", "_") or "-"))
            s.close()
            s = None
        i += 1
        left = args.interval - (time.monotonic() - t)
        if left > 0:
            stopping.wait(left)
    if s is not None:
        s.close()


emit("start %d" % int(time.time() * 1000))
threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.workers)]
est = threading.Thread(target=established, daemon=True) if args.established else None
if est:
    est.start()
for t in threads:
    t.start()
for t in threads:
    # every request is bounded (look-up by glibc's 2 x 5 s, connect and read by the timeout each)
    t.join(max(0.0, deadline - time.monotonic()) + 2 * args.timeout + 12)
stopping.set()
if est:
    est.join(2 * args.timeout + 12)
emit("done %d" % sent[0])
