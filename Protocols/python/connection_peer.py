#!/usr/bin/env python3
"""A Python peer of the Swift Listener and Client (Tests/MultiprocessingTests/ListenerTests.swift).

It speaks Python's multiprocessing.connection: 4-byte big-endian framed send_bytes/recv_bytes
and the HMAC challenge and response of CPython 3.12 and later ({sha256} digests). On Python
3.12+ it uses the standard library's handshake itself; on older versions (whose handshake is
HMAC-MD5 only) it runs the same 3.12 exchange written out below, on the standard library's
Connection objects.

Usage: connection_peer.py MODE ADDRESS KEY_HEX
  client          connect to ADDRESS with the key, send b"ping from python", then send back
                  b"echo:" + the next message received; exit 0
  legacy-client   multiprocessing.connection.Client(ADDRESS, authkey=KEY) as this Python has
                  it (3.11 and older: HMAC-MD5); exit 0 if accepted, 3 on AuthenticationError
  listener        listen on ADDRESS (port 0: print the port), authenticate the peer, then echo
                  one message back with b"echo:" before it; exit 0
  rogue-listener  listen, welcome any answer without checking it, then answer the peer's
                  challenge with KEY (a wrong one); exit 3 when the peer refuses that answer
Each mode prints "AuthenticationError: ..." and exits 3 when a handshake fails.
"""
import hmac
import os
import sys
from multiprocessing import AuthenticationError
from multiprocessing import connection

CHALLENGE = b"#CHALLENGE#"
WELCOME = b"#WELCOME#"
FAILURE = b"#FAILURE#"
DIGEST = b"{sha256}"
MODERN = sys.version_info >= (3, 12)


def deliver(conn, key):
    """The deliverer's half of CPython 3.12's handshake."""
    if MODERN:
        return connection.deliver_challenge(conn, key)
    message = DIGEST + os.urandom(40)
    conn.send_bytes(CHALLENGE + message)
    response = conn.recv_bytes(256)
    expected = DIGEST + hmac.new(key, message, "sha256").digest()
    if not hmac.compare_digest(response, expected):
        conn.send_bytes(FAILURE)
        raise AuthenticationError("digest received was wrong")
    conn.send_bytes(WELCOME)


def answer(conn, key):
    """The answerer's half of CPython 3.12's handshake."""
    if MODERN:
        return connection.answer_challenge(conn, key)
    message = conn.recv_bytes(256)
    if not message.startswith(CHALLENGE):
        raise AuthenticationError("expected a challenge")
    message = message[len(CHALLENGE):]
    conn.send_bytes(DIGEST + hmac.new(key, message, "sha256").digest())
    if conn.recv_bytes(256) != WELCOME:
        raise AuthenticationError("digest sent was rejected")


def parse(address):
    if address.startswith("/"):
        return address
    host, _, port = address.rpartition(":")
    return (host.strip("[]"), int(port))


def main():
    mode, address, key = sys.argv[1], parse(sys.argv[2]), bytes.fromhex(sys.argv[3])
    try:
        if mode == "client":
            conn = connection.Client(address)          # no authkey: the handshake is ours
            answer(conn, key)
            deliver(conn, key)
            conn.send_bytes(b"ping from python")
            conn.send_bytes(b"echo:" + conn.recv_bytes())
        elif mode == "legacy-client":
            connection.Client(address, authkey=key).close()
        elif mode in ("listener", "rogue-listener"):
            listener = connection.Listener(address)    # no authkey: the handshake is ours
            got = listener.address
            print(got if isinstance(got, str) else "%s:%d" % got[:2], flush=True)
            conn = listener.accept()
            if mode == "listener":
                deliver(conn, key)
                answer(conn, key)
                conn.send_bytes(b"echo:" + conn.recv_bytes())
                conn.recv_bytes() if conn.poll(5) else None   # the peer's close
            else:
                conn.send_bytes(CHALLENGE + DIGEST + os.urandom(40))
                conn.recv_bytes(256)
                conn.send_bytes(WELCOME)
                answer(conn, key)
                print("the peer accepted a wrong key", flush=True)
                return 1
        else:
            print("unknown mode %r" % mode, file=sys.stderr)
            return 2
    except AuthenticationError as error:
        print("AuthenticationError: %s" % error, flush=True)
        return 3
    except EOFError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
