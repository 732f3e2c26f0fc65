"""The keeper's control socket: where it is, who may use it, and how a
request and its reply travel.

One request per connection, as zdaemon's command socket takes one: the
command connects to ``.keeper.sock`` in the pid dir, sends its request and
shuts its side down; the keeper answers when the request is done (a start
once the program is ready, a stop once its family has ended), then closes.
Both are dicts in ``marshal`` form (no json, and the ``re`` it loads, in a
resident process), at most LIMIT bytes.

The socket's path goes through the pid dir's descriptor
(``/proc/self/fd/N/.keeper.sock``), so a long pid dir path fits in an
AF_UNIX address and nothing on the way is followed.  Only root and the pid
dir's owner may connect: the socket is mode 0600 in a directory nobody
else can write, and the keeper checks every peer's SO_PEERCRED as well.
The command checks the keeper's the same way.
"""

import errno
import marshal
import os
import socket
import struct

LIMIT = 1 << 22
CREDENTIALS = struct.Struct('3i')       # pid, uid, gid


class WireError(Exception):
    """A request that could not be made or answered; the message says why."""


class NoKeeper(WireError):
    """Nobody answers on the pid dir's socket: no keeper runs there."""


def address(dir_fd, name):
    """The AF_UNIX address of ``name`` in the directory ``dir_fd``."""
    return '/proc/self/fd/%d/%s' % (dir_fd, name)


def encode(message):
    data = marshal.dumps(message)
    if len(data) > LIMIT:
        raise WireError('a message of %d bytes is larger than %d' % (len(data), LIMIT))
    return data


def decode(data):
    try:
        message = marshal.loads(data)
    except (ValueError, EOFError, TypeError):
        raise WireError('not a message (%d bytes)' % len(data))
    if not isinstance(message, dict):
        raise WireError('not a message (a %s)' % type(message).__name__)
    return message


def peer(sock):
    """(pid, uid, gid) of the process at the other end of ``sock``."""
    return CREDENTIALS.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                              CREDENTIALS.size))


def may_use(uid, owner):
    """May the user ``uid`` use the keeper of a pid dir that ``owner`` owns?"""
    return uid == 0 or uid == owner


def ask(dir_fd, request, timeout):
    """Send ``request`` to the keeper of the pid dir ``dir_fd`` and wait up
    to ``timeout`` seconds for its reply (a dict).  NoKeeper if none
    listens there; WireError if it does not answer in time or at all."""
    import time
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(max(0.001, min(timeout, 10)))
        try:
            sock.connect(address(dir_fd, '.keeper.sock'))
        except (FileNotFoundError, ConnectionRefusedError):
            raise NoKeeper('no keeper runs there')
        except OSError as e:
            raise WireError('cannot reach the keeper: %s' % (e.strerror or e))
        _, uid, _ = peer(sock)
        if not may_use(uid, os.geteuid()):
            raise WireError('the process on %s runs as uid %d, not as us or root; refusing'
                            ' to talk to it' % ('.keeper.sock', uid))
        try:
            sock.sendall(encode(request))
            sock.shutdown(socket.SHUT_WR)
        except OSError as e:                # it went while we spoke: say nothing was done
            if e.errno in (errno.EPIPE, errno.ECONNRESET):
                raise NoKeeper('the keeper went away')
            raise WireError('cannot send to the keeper: %s' % (e.strerror or e))
        chunks, size = [], 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WireError('the keeper gave no answer within %gs' % timeout)
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                chunk = b''
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > LIMIT:
                raise WireError('the keeper\'s answer is larger than %d bytes' % LIMIT)
        if not chunks:
            raise NoKeeper('the keeper closed the connection without an answer')
        return decode(b''.join(chunks))
    finally:
        sock.close()
