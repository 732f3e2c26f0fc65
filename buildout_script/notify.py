"""The sd_notify protocol, the receiving side (as systemd speaks it).

The program finds ``NOTIFY_SOCKET`` in its environment and sends datagrams
of ``KEY=VALUE`` lines to it: ``READY=1``, ``RELOADING=1``, ``STOPPING=1``,
``STATUS=text``, ``MAINPID=N``, ``WATCHDOG=1``, ``EXTEND_TIMEOUT_USEC=N``.
The kernel attaches the sender's credentials (SO_PASSCRED), so a message is
taken only from the process it claims to come from.  Datagrams are at most
4096 bytes, as systemd reads them; longer ones are dropped.
"""

import os
import socket
import struct

LARGEST = 4096
CREDENTIALS = struct.calcsize('3i')


def socket_path(settings):
    """NAME.notify in the pid dir; an abstract name where that path is too
    long for an AF_UNIX address (107 bytes)."""
    path = os.path.join(settings['pid-dir'], settings['name'] + '.notify')
    if len(os.fsencode(path)) <= 107:
        return path
    import hashlib                  # (libcrypto: megabytes a keeper need not carry)
    return '@buildout_script/' + hashlib.sha1(os.fsencode(path)).hexdigest()[:16]


def bind(path):
    """A non-blocking datagram socket at ``path`` (replacing a stale one)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    address = '\0' + path[1:] if path.startswith('@') else path
    if not path.startswith('@'):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    old = os.umask(0o177)
    try:
        sock.bind(address)
    finally:
        os.umask(old)
    return sock


def environment(path, watchdog=None):
    """What the program needs to find us (and how often to ping)."""
    env = {'NOTIFY_SOCKET': path}
    if watchdog:
        env['WATCHDOG_USEC'] = '%d' % (watchdog * 1e6)
    return env


def receive(sock):
    """Every waiting message as (sender pid, sender uid, {KEY: VALUE})."""
    messages = []
    while True:
        try:
            data, ancillary, flags, _ = sock.recvmsg(LARGEST, socket.CMSG_SPACE(CREDENTIALS))
        except (BlockingIOError, InterruptedError):
            return messages
        if flags & socket.MSG_TRUNC:
            continue
        pid = uid = None
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, uid, _ = struct.unpack('3i', value[:CREDENTIALS])
        fields = {}
        for line in data.decode(errors='replace').splitlines():
            key, sep, value = line.partition('=')
            if sep:
                fields[key.strip()] = value
        messages.append((pid, uid, fields))


def send(path, text):
    """Send one message (what a program does; for tests and tools)."""
    address = '\0' + path[1:] if path.startswith('@') else path
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(text.encode(), address)


def wait_ready(proc, sock, timeout):
    """For a start without a keeper: (True, detail) once the program (or a
    process it started) sends READY=1; (False, detail) if it dies first or
    is not ready within ``timeout`` seconds."""
    import select
    import time
    from . import program
    deadline = time.monotonic() + timeout
    for delay in program.pauses(0.005, 0.1):
        for pid, uid, fields in receive(sock):
            if fields.get('READY') == '1':
                return True, 'sent READY=1'
        code = proc.poll()
        if code is not None:
            return False, program.describe_exit(code)
        left = deadline - time.monotonic()
        if left <= 0:
            return False, 'not ready after %gs (no READY=1 on %s)' % (timeout, sock.getsockname())
        select.select([sock], [], [], min(delay, left))
