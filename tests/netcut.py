#!/usr/bin/env python3
"""A TCP proxy that cuts connections on demand, for fault tests.

    netcut.py LISTEN_PORT TARGET_PORT     (both on 127.0.0.1)

Forwards every connection until a signal says otherwise:
  SIGUSR1  reset every open connection (RST to both sides); keep forwarding
           new ones.
  SIGUSR2  blackhole: stop reading and forwarding in both directions and
           leave the sockets open, like a peer that vanished without a word;
           new connections are accepted and held the same way.  The kernel
           still acknowledges what fits in its buffers, so TCP alone does
           not notice: only the client's own timeouts do.
  SIGHUP   forward again; connections held by the blackhole are reset.
Prints "ready" once listening.
"""
import selectors
import signal
import socket
import struct
import sys

listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
pending = set()
sel = selectors.DefaultSelector()
pairs = {}  # socket -> its peer
held = []  # sockets the blackhole keeps open


def on_signal(signum, frame):
    pending.add(signum)


for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP):
    signal.signal(s, on_signal)


def reset(sock):
    # SO_LINGER with a zero timeout: close() sends RST, not FIN.
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sel.unregister(sock)
    except (KeyError, ValueError):
        pass
    sock.close()


def reset_all():
    for sock in list(pairs):
        reset(sock)
    pairs.clear()
    for sock in held:
        reset(sock)
    held.clear()


lsock = socket.socket()
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind(("127.0.0.1", listen_port))
lsock.listen(64)
sel.register(lsock, selectors.EVENT_READ)
blackhole = False
print("ready", flush=True)

while True:
    for signum in list(pending):
        pending.discard(signum)
        if signum == signal.SIGUSR1:
            reset_all()
        elif signum == signal.SIGUSR2:
            blackhole = True
            for sock in list(pairs):
                sel.unregister(sock)
                held.append(sock)
            pairs.clear()
        elif signum == signal.SIGHUP:
            blackhole = False
            reset_all()
    try:
        events = sel.select(timeout=0.1)
    except InterruptedError:
        continue
    for key, _ in events:
        sock = key.fileobj
        if sock is lsock:
            client, _ = lsock.accept()
            if blackhole:
                held.append(client)
                continue
            upstream = socket.socket()
            try:
                upstream.connect(("127.0.0.1", target_port))
            except OSError:
                reset(client)
                continue
            pairs[client], pairs[upstream] = upstream, client
            sel.register(client, selectors.EVENT_READ)
            sel.register(upstream, selectors.EVENT_READ)
            continue
        if sock not in pairs:
            continue
        peer = pairs[sock]
        try:
            data = sock.recv(65536)
            if data:
                peer.sendall(data)
                continue
        except OSError:
            pass
        # One side closed: close the other the same way.
        for s in (sock, peer):
            pairs.pop(s, None)
            try:
                sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
