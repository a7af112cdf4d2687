#!/usr/bin/env python3
"""A stand-in for rrdcached for the soak benchmarks (bench/soak-*.sh).

Accepts the collector's rrdcached protocol on a Unix socket and stores
nothing: BATCH updates succeed, INFO describes the layout that
bench/rrd-stub/rrdtool wrote into the (text) file, LAST says 0, anything
else answers "0 OK".  It keeps the RRD side of a 1,000-VM run off the disk
so that the benchmark measures the spool and the database.

    fake-rrdcached.py SOCKET_PATH
"""
import os
import socketserver
import sys


def info(path):
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        return ["-1 No such file: %s" % e.strerror]
    out = ["filename 2 %s" % path, "last_update 1 0"]
    idx = 0
    for line in lines:
        if line.startswith("step "):
            out.append("step 1 %s" % line.split()[1])
        elif line.startswith("DS:"):
            parts = line.split(":")
            out.append("ds[%s].index 1 %d" % (parts[1], idx))
            out.append("ds[%s].type 2 %s" % (parts[1], parts[2]))
            idx += 1
    return ["%d Info follows" % len(out)] + out


def debug(msg):
    if os.environ.get("FAKE_RRDCACHED_DEBUG"):
        print(msg[:200], file=sys.stderr, flush=True)


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        debug("connection")
        w = self.wfile
        batch = None
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            debug(line)
            if batch is not None:
                if line == ".":
                    w.write(b"0 errors\n")
                    w.flush()
                    batch = None
                continue
            cmd, _, arg = line.partition(" ")
            cmd = cmd.upper()
            if cmd == "BATCH":
                batch = True
                ans = ["0 Go ahead.  End with dot '.' on its own line."]
            elif cmd == "INFO":
                ans = info(arg.strip())
            elif cmd == "LAST":
                ans = ["0 0"]
            elif cmd == "QUIT":
                return
            else:
                ans = ["0 OK"]
            w.write(("\n".join(ans) + "\n").encode())
            w.flush()
        debug("closed")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    path = sys.argv[1]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = Server(path, Handler)
    os.chmod(path, 0o777)
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
