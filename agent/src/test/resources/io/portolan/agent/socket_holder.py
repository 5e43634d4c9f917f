#!/usr/bin/env python3
"""Holds sockets for a process the way systemd's socket activation does, and restarts it: it stands
in for portolan.socket (ListenDatagram/ListenStream, NonBlocking=yes) and for portolan.service's
Restart=always with RestartSec, for SocketActivationTest (a loopback address) and for an agent in a
fleet host (its container bridge's gateway).

socket_holder.py --mode MODE --addr ADDR --port PORT --log FILE --restarts N [--restart-sec S] -- COMMAND ARGS...

ADDR: a loopback address or a fleet container gateway (172.30.0.0/15), only ever inside the
fleet's host namespaces.

MODE: held       bind UDP and a listening TCP socket on ADDR:PORT, non-blocking (a service with
                 NonBlocking=yes), and pass them as fds 3 and 4 with LISTEN_FDS=2,
                 LISTEN_PID=<the child's pid>, LISTEN_FDNAMES=dns-udp:dns-tcp
      wrong-pid  the same sockets and variables, but LISTEN_PID is this holder's pid
      none       no sockets, no variables (the command binds for itself)

The command runs in a child (fork, then execve with the fds at 3.. and its stdout and stderr
appended to FILE); when it ends it is started again after S seconds (default 0.01; systemd's
RestartSec), at most N more times (Restart=always).
Prints 'started PID' and 'exited PID CODE' (CODE negative: killed by that signal) on stdout.
SIGTERM or SIGINT: passed to the running child, waited for (10 s, then SIGKILL), then exit.
"""
import argparse
import fcntl
import os
import signal
import socket
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--mode", choices=["held", "wrong-pid", "none"], required=True)
p.add_argument("--addr", required=True)
p.add_argument("--port", type=int, required=True)
p.add_argument("--log", required=True)
p.add_argument("--restarts", type=int, default=0)
p.add_argument("--restart-sec", type=float, default=0.01)
p.add_argument("command", nargs="+")
args = p.parse_args()
if not (args.addr.startswith("127.") or args.addr.startswith("172.30.") or args.addr.startswith("172.31.")):
    sys.exit("socket_holder: loopback (127.0.0.0/8) or a fleet gateway (172.30.0.0/15) only, not " + args.addr)

socks = []
if args.mode != "none":
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((args.addr, args.port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((args.addr, args.port))
    tcp.listen(1024)
    for s in (udp, tcp):
        s.setblocking(False)  # what systemd's NonBlocking=yes leaves on the shared file description
    socks = [udp, tcp]

child = None
stopping = False


def stop(signum, _frame):
    global stopping
    stopping = True
    if child is not None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)


def run_child():
    # In the forked child: sockets to 3.. (via fds above any target first), output to the log.
    log = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    # Copies above every target number first (close-on-exec, so only the targets survive the exec).
    moved = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 10) for s in socks]
    for i, fd in enumerate(moved):
        os.dup2(fd, 3 + i, inheritable=True)
    env = dict(os.environ)
    for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        env.pop(k, None)
    if socks:
        env["LISTEN_FDS"] = str(len(socks))
        env["LISTEN_PID"] = str(os.getpid() if args.mode == "held" else os.getppid())
        env["LISTEN_FDNAMES"] = "dns-udp:dns-tcp"
    os.execvpe(args.command[0], args.command, env)


starts = 0
while not stopping and starts <= args.restarts:
    starts += 1
    pid = os.fork()
    if pid == 0:
        try:
            run_child()
        finally:
            os._exit(127)
    child = pid
    print("started", pid, flush=True)
    stop_at = None
    while True:  # polled, so that a child that ignores the stop is killed 10 s after it (as described above)
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            status = 0
            break
        if done:
            break
        if stopping:
            stop_at = stop_at or time.monotonic()
            if time.monotonic() - stop_at > 10:
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    child = None
    print("exited", pid, os.waitstatus_to_exitcode(status), flush=True)
    if stopping:
        break
    time.sleep(args.restart_sec)
sys.exit(0)
