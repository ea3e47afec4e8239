#!/usr/bin/env python3
"""ks_flood.py - attacker-side helpers for test_ks_deadlines.sh (loopback only).

  ks_flood.py hold PORT N FIRST_ADDR N_ADDRS SECONDS
      open N TCP connections to 127.0.0.1:PORT from N_ADDRS source addresses starting at
      FIRST_ADDR (127.0.0.x), never send a byte, keep them SECONDS, print how many the server
      closed meanwhile.
  ks_flood.py trickle-tls PORT CAFILE CERT KEY
      TLS handshake with a client certificate, then one byte of a request header per second;
      print the seconds from the end of the handshake until the server closed the connection.
  ks_flood.py trickle-hello PORT
      one byte of a TLS ClientHello per second; print seconds from connect until closed.
  ks_flood.py silent PORT SRC
      connect from SRC, send nothing, print seconds until the server closed the connection.
"""
import ipaddress
import select
import socket
import ssl
import sys
import time


def closed(sock):
    try:
        r, _, _ = select.select([sock], [], [], 0)
        if not r:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b''
    except (ConnectionResetError, OSError):
        return True


def hold(port, n, first, n_addrs, seconds):
    base = ipaddress.IPv4Address(first)
    socks = []
    for i in range(n):
        s = socket.socket()
        s.bind((str(base + (i % n_addrs)), 0))
        s.setblocking(False)
        try:
            s.connect(('127.0.0.1', port))
        except BlockingIOError:
            pass
        socks.append(s)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.05)
    n_closed = sum(1 for s in socks if closed(s))
    for s in socks:
        s.close()
    print(n_closed)


def wait_closed(sock, start, step, limit=60):
    """Send one byte of step() per second until the peer closes; seconds since start."""
    while time.monotonic() - start < limit:
        b = step()
        try:
            if b:
                sock.send(b)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return time.monotonic() - start
        r, _, _ = select.select([sock], [], [], 1.0)
        if r:
            try:
                if sock.recv(1) == b'':
                    return time.monotonic() - start
            except (ConnectionResetError, ssl.SSLError, OSError):
                return time.monotonic() - start
    return -1


def trickle_tls(port, cafile, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.load_cert_chain(cert, key)
    raw = socket.create_connection(('127.0.0.1', port))
    s = ctx.wrap_socket(raw, server_hostname='localhost')
    start = time.monotonic()
    data = iter(b'GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ' + b'a' * 200)
    print('%.2f' % wait_closed(s, start, lambda: bytes([next(data)])))


def trickle_hello(port):
    # The start of a TLS 1.2 ClientHello record; never completed at one byte per second.
    hello = iter(bytes.fromhex('16030100c8010000c40303') + b'\x00' * 300)
    s = socket.create_connection(('127.0.0.1', port))
    start = time.monotonic()
    print('%.2f' % wait_closed(s, start, lambda: bytes([next(hello)])))


def silent(port, src):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(('127.0.0.1', port))
    start = time.monotonic()
    print('%.2f' % wait_closed(s, start, lambda: b''))


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'hold':
        hold(int(args[0]), int(args[1]), args[2], int(args[3]), float(args[4]))
    elif cmd == 'trickle-tls':
        trickle_tls(int(args[0]), args[1], args[2], args[3])
    elif cmd == 'trickle-hello':
        trickle_hello(int(args[0]))
    elif cmd == 'silent':
        silent(int(args[0]), args[1])
    else:
        sys.exit('unknown command ' + cmd)
