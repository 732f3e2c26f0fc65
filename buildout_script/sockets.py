"""Held listening sockets (``listen``): the keeper binds each address once
and hands the sockets to every program it starts, as systemd's socket
activation does (descriptors from 3, LISTEN_FDS, LISTEN_PID,
LISTEN_FDNAMES: launch.py places them).  While no program accepts, the
kernel queues connections on the socket the keeper holds, so a restart
or a crash refuses none.

Forms: ``HOST:PORT`` (IPv4, or a name), ``[IPV6]:PORT``, ``unix:PATH``.
Errors say which address and why in one line: taken (and, when /proc
shows it, by which process), a port below 1024 without root, a unix path
where something else is.
"""

import errno
import os
import socket
import stat

from . import trusted
from .program import LaunchError


class Address:
    """One ``listen`` address: ``kind`` 'inet', 'inet6' or 'unix'."""
    __slots__ = ('text', 'kind', 'host', 'port', 'path')

    def __init__(self, text, kind, host=None, port=None, path=None):
        self.text, self.kind, self.host, self.port, self.path = text, kind, host, port, path

    def __repr__(self):
        return '<Address %s>' % self.text


def parse(text, base='/'):
    """The Address of one ``listen`` word; ValueError says what is wrong."""
    word = text.strip()
    if word.startswith('unix:'):
        path = word[len('unix:'):]
        if not path:
            raise ValueError('unix: needs a path, as in unix:var/run/web.sock')
        path = os.path.normpath(os.path.join(base, os.path.expanduser(path)))
        if len(os.fsencode(os.path.basename(path))) > 100:
            raise ValueError('the socket name %r is too long' % os.path.basename(path))
        return Address('unix:' + path, 'unix', path=path)
    host, sep, port = word.rpartition(':')
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError('expected HOST:PORT, [IPV6]:PORT or unix:PATH, got %r' % word)
    if host.startswith('['):
        if not host.endswith(']') or len(host) < 3:
            raise ValueError('expected [IPV6]:PORT, got %r' % word)
        try:
            socket.inet_pton(socket.AF_INET6, host[1:-1])
        except OSError:
            raise ValueError('%s is not an IPv6 address' % host)
        return Address(word, 'inet6', host[1:-1], int(port))
    if ':' in host:
        raise ValueError('an IPv6 address goes in brackets: [%s]:%s' % (host, port))
    return Address(word, 'inet', host, int(port))


def parse_all(text, base='/'):
    """The Addresses of a ``listen`` option (space-separated words)."""
    addresses = [parse(word, base) for word in (text or '').split()]
    seen = set()
    for address in addresses:
        if address.text in seen:
            raise ValueError('%s is listed twice' % address.text)
        seen.add(address.text)
    return addresses


def bind(address, account=None, mode=0o666, backlog=1024):
    """A listening socket on ``address`` (a unix socket owned by the
    service's ``account``, with ``mode``); LaunchError in one line if not."""
    if address.kind == 'unix':
        return _bind_unix(address, account, mode, backlog)
    family = socket.AF_INET6 if address.kind == 'inet6' else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address.host, address.port))
        sock.listen(backlog)
    except OSError as e:
        sock.close()
        raise _cannot_listen(address, e)
    return sock


def _bind_unix(address, account, mode, backlog):
    """In a directory opened safely (its path walked, never through a
    symlink another user planted), through its descriptor."""
    directory, name = os.path.split(address.path)
    try:
        dir_fd = trusted.open_directory(directory, create=True)
    except trusted.Untrusted as e:
        raise LaunchError('not-configured', 'cannot listen on %s: %s' % (address.text, e))
    except OSError as e:
        raise LaunchError('not-configured', 'cannot listen on %s: %s' % (
            address.text, e.strerror))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    here = '/proc/self/fd/%d/%s' % (dir_fd, name)
    try:
        _remove_stale(address, dir_fd, name, here)
        old = os.umask(0o777 & ~mode)      # its mode from the start: nothing to chmod
        try:
            sock.bind(here)
        finally:
            os.umask(old)
        if account is not None:
            os.chown(name, account.pw_uid, account.pw_gid, dir_fd=dir_fd,
                     follow_symlinks=False)
        sock.listen(backlog)
    except LaunchError:
        sock.close()
        raise
    except OSError as e:
        sock.close()
        raise _cannot_listen(address, e)
    finally:
        os.close(dir_fd)
    return sock


def remove(address):
    """The path of a unix socket we held, once we let it go (if a socket
    is still there); nothing for the other kinds."""
    if address.kind != 'unix':
        return
    directory, name = os.path.split(address.path)
    try:
        dir_fd = trusted.open_directory(directory)
    except (trusted.Untrusted, OSError):
        return
    try:
        if stat.S_ISSOCK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _remove_stale(address, dir_fd, name, here):
    """A socket left where we listen, which nobody answers on, goes; a
    live one, or anything that is not a socket, stays and is said."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise LaunchError('not-configured', 'cannot listen on %s: something else is there'
                          ' (not a socket); remove it or listen elsewhere' % address.text)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        probe.connect(here)
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)
        return
    except OSError:
        return
    finally:
        probe.close()
    raise LaunchError('not-configured', 'cannot listen on %s: a process listens there'
                      ' already%s' % (address.text, holder_words(st.st_ino, 'unix')))


def _cannot_listen(address, e):
    if e.errno == errno.EADDRINUSE:
        inode = listening_inode(address)
        return LaunchError('not-configured', 'cannot listen on %s: the address is taken%s;'
                           ' stop that, or listen elsewhere' % (
                               address.text, holder_words(inode, address.kind)))
    if e.errno == errno.EACCES and address.kind != 'unix' and address.port < 1024:
        return LaunchError('permission', 'cannot listen on %s: a port below 1024 needs'
                           ' root, and this runs as uid %d; run it as root, or listen on'
                           ' a port of 1024 or more' % (address.text, os.geteuid()))
    if e.errno == errno.EADDRNOTAVAIL:
        return LaunchError('not-configured', 'cannot listen on %s: no interface of this'
                           ' machine has that address' % address.text)
    return LaunchError('not-configured', 'cannot listen on %s: %s' % (
        address.text, e.strerror or e))


def listening_inode(address):
    """The inode of the socket listening on ``address``'s port, from
    /proc/net/tcp(6) (state 0A: LISTEN), or None."""
    table = '/proc/net/tcp6' if address.kind == 'inet6' else '/proc/net/tcp'
    try:
        with open(table) as f:
            next(f)
            for line in f:
                words = line.split()
                if words[3] == '0A' and int(words[1].rpartition(':')[2], 16) == address.port:
                    return int(words[9])
    except (OSError, ValueError, IndexError, StopIteration):
        pass
    return None


def holder_words(inode, kind):
    """' by pid N (its command)' for the process holding the socket
    ``inode``, as far as /proc lets us see; '' if it does not."""
    if not inode:
        return ''
    from . import process
    target = 'socket:[%d]' % inode
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir('/proc/%s/fd' % pid):
                if os.readlink('/proc/%s/fd/%s' % (pid, fd)) == target:
                    return ' by pid %s (%s)' % (pid, process.command(int(pid)))
        except OSError:
            continue
    return ''


def recover(pid, addresses):
    """The listening sockets on ``addresses`` that the process ``pid``
    holds (a program a keeper that is gone gave them to), duplicated into
    this process with pidfd_getfd (Linux 5.6; root, or where ptrace is
    allowed): {address text: socket}.  What cannot be had is left out."""
    wanted = {a.text: a for a in addresses}
    found = {}
    try:
        fds = os.listdir('/proc/%d/fd' % pid)
        pidfd = os.pidfd_open(pid)
    except OSError:
        return found
    try:
        for fd in fds:
            try:
                if not os.readlink('/proc/%d/fd/%s' % (pid, fd)).startswith('socket:'):
                    continue
            except OSError:
                continue
            mine = _pidfd_getfd(pidfd, int(fd))
            if mine is None:
                break                       # not allowed: none will be
            sock = socket.socket(fileno=mine)
            text = _listening_on(sock, wanted)
            if text is not None and text not in found:
                found[text] = sock
            else:
                sock.close()
    finally:
        os.close(pidfd)
    return found


def _pidfd_getfd(pidfd, fd):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    mine = libc.syscall(438, pidfd, fd, 0)              # SYS_pidfd_getfd
    if mine < 0:
        return None
    os.set_inheritable(mine, False)
    return mine


def _listening_on(sock, wanted):
    """Which of the ``wanted`` addresses ``sock`` listens on, or None."""
    try:
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            return None
        name = sock.getsockname()
    except OSError:
        return None
    for text, address in wanted.items():
        if address.kind == 'unix' and sock.family == socket.AF_UNIX and name == address.path:
            return text
        if address.kind == 'inet' and sock.family == socket.AF_INET \
                and name[1] == address.port:
            return text
        if address.kind == 'inet6' and sock.family == socket.AF_INET6 \
                and name[1] == address.port:
            return text
    return None
