#!/usr/bin/env python3
"""http_server.py ADDRESS PORT NAME: answers every GET with NAME, over HTTP/1.1 with keep-alive
(Content-Length, a thread per connection), so that a client may hold one connection across a drill.
Binds only ADDRESS (an address of the fleet's namespaces)."""
import http.server
import sys

address, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
body = (name + "\n").encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


Server((address, port), Handler).serve_forever()
