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


class ListenError(OSError):
    """The socket to hear the program on could not be made: one line that
    says what, where, and what to do."""


def socket_path(settings):
    """NAME.notify in the pid dir; where that path is too long for an
    AF_UNIX address (107 bytes), an abstract name with 128 random bits in
    it: abstract names have no owner or mode, so a name another user could
    work out would be theirs to bind first (and start would fail) or to
    send READY=1 to.  A fresh name for every program we start; a keeper
    that adopts a running program gets the name that program was given
    (in its environment), so that what it sends still reaches us."""
    path = os.path.join(settings['pid-dir'], settings['name'] + '.notify')
    if len(os.fsencode(path)) <= 107:
        return path
    given = _given_to_running(settings)
    if given is not None:
        return given
    return ABSTRACT + os.urandom(16).hex()


ABSTRACT = '@buildout_script/'


def _given_to_running(settings):
    """The abstract NOTIFY_SOCKET the recorded program (if it runs) was
    started with: what it sends its messages to (its pid file names it,
    its environment carries the service's mark)."""
    from . import process
    from .program import mark
    from .servicefiles import ServiceFiles, StateError
    try:                                # the record, as every command trusts it
        record = ServiceFiles(settings['pid-dir'], settings['name']).read_program()
    except StateError:
        return None
    if record.ident is None or not process.is_running(record.ident):
        return None
    pid = record.pid
    try:
        with open('/proc/%d/environ' % pid, 'rb') as f:
            environ = f.read().split(b'\0')
    except OSError:
        return None
    if not process.carries(pid, mark(settings)):
        return None                     # not ours: a pid used again
    for entry in environ:
        if entry.startswith(b'NOTIFY_SOCKET=' + ABSTRACT.encode()):
            value = os.fsdecode(entry.partition(b'=')[2])
            if len(value) == len(ABSTRACT) + 32:
                return value
    return None


def bind(path):
    """A non-blocking datagram socket at ``path`` (replacing a stale one);
    ListenError if it cannot be had."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
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
    except OSError as e:
        sock.close()
        if path.startswith('@'):
            what = 'another process holds that abstract name; start again (a new name is drawn)'
        else:
            what = 'remove what is at that path, or make the pid dir writable'
        raise ListenError('cannot listen for READY=1 (ready = notify) on %s: %s; %s' % (
            path, e.strerror or e, what)) from None
    return sock


def name_of(sock):
    """The address ``sock`` is bound to, as NOTIFY_SOCKET spells it."""
    name = sock.getsockname()
    if isinstance(name, bytes):             # abstract: '\0...' comes back as bytes
        return '@' + os.fsdecode(name[1:])
    return name


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


def said_ready(sock, pid, mark=None, uid=None):
    """Has READY=1 come, from ``pid`` or from a process it started (of user
    ``uid``, carrying ``mark``)?  What anyone else sends is ignored."""
    from . import process
    for sender, sender_uid, fields in receive(sock):
        if fields.get('READY') != '1' or sender is None:
            continue
        if sender == pid or (mark and sender_uid == uid
                             and process.carries(sender, mark, exact=False)):
            return True
    return False
