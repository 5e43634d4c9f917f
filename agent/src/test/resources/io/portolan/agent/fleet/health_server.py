#!/usr/bin/env python3
"""health_server.py ADDRESS PORT FLAG: answers GET /health with 200 while the file FLAG exists, else 500, and prints
"check NANOS STATUS" for each (NANOS: CLOCK_MONOTONIC, as Java's System.nanoTime reads it), so a bench can tell when
the first failing check came. Binds only ADDRESS (an address of the fleet's namespaces)."""
import http.server
import os
import sys
import time

address, port, flag = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = 200 if os.path.exists(flag) else 500
        now = time.monotonic_ns()
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        print("check %d %d" % (now, status), flush=True)

    def log_message(self, *_):
        pass


http.server.ThreadingHTTPServer((address, port), Handler).serve_forever()
