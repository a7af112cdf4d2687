"""A webhook receiver for tests/integration/aggregator-actions.sh.

Listens on 127.0.0.1 (a free port, written to PORTFILE) and records every
POST: a line "SEQ PATH MONOTONIC_NS CONTENT_TYPE" in DIR/requests.log and
its body in DIR/body.SEQ.  How it answers depends on the path:
  /ok          200
  /flaky/N/... 503 for the first N requests to that path, then 200
  /r429        429 for the first request, then 200
  /bad         400
  /moved       301 (to /ok)
  /hang        never answers (the connection stays open)
Usage: receiver.py DIR PORTFILE"""
import http.server
import os
import sys
import threading
import time

DIR, PORTFILE = sys.argv[1], sys.argv[2]
lock = threading.Lock()
seen = {}
seq = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            seq[0] += 1
            n = seq[0]
            seen[self.path] = seen.get(self.path, 0) + 1
            count = seen[self.path]
            with open(os.path.join(DIR, "body.%d" % n), "wb") as f:
                f.write(body)
            with open(os.path.join(DIR, "requests.log"), "a") as f:
                f.write("%d %s %d %s\n" % (n, self.path, time.monotonic_ns(),
                                           self.headers.get("Content-Type")))
        status = 200
        if self.path.startswith("/flaky/"):
            status = 503 if count <= int(self.path.split("/")[2]) else 200
        elif self.path == "/r429":
            status = 429 if count == 1 else 200
        elif self.path == "/bad":
            status = 400
        elif self.path == "/moved":
            status = 301
        elif self.path == "/hang":
            threading.Event().wait()
        self.send_response(status)
        if status == 301:
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", "0")
        self.end_headers()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(PORTFILE + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
