"""A service's log files: where they are, opening them safely, the last
lines, and the keeper's writing of them (whole lines, rotated by size,
reopened on request).

Logs are opened as someone else may have planted them (the log dir may
belong to the service's user, and root may be the one opening): the
directory is walked safely (trusted.open_directory) and refused unless
nobody but us, root or the service's user can write it; the log is opened
relative to it, never through a symlink, never blocking on a FIFO, only a
regular file with one link (trusted.open_file); it is appended to, never
truncated, and belongs to the service's user so the program can reopen it.

The keeper's ``Log``: the program writes into a pipe (logpipes.py); the
keeper reads it in chunks and hands each chunk to ``Log.write`` at once
(holding nothing back, so a keeper killed with -9 loses at most the chunk
in its hands).  A switch to a new file, by size (``log-max-bytes``, keeping
``log-backups`` as NAME.log.1 .. NAME.log.N, as supervisord and svlogd do)
or on request (logrotate's ``create`` mode renamed the file), happens only
where a line ends, so no line is split between two files; a line longer
than ``LONGEST_LINE`` past the limit is the one exception.  The pipe is
read, never copied, so no line is written twice.

Root's keeper works in a log dir the service's user may own, so it holds a
descriptor of the directory and renames, unlinks and opens relative to it,
never through a symlink.  At each switch the path is walked again, as a
start would walk it: when the walk is refused (someone swapped the dir for
a symlink, say), the keeper acts on neither directory; it writes on into
the file it has open, says why in one line there, and tries again at the
next switch (another ``log-max-bytes`` later, or the next reopen-logs).
"""

import os
import time

from . import trusted
from .program import LaunchError


def paths(settings):
    """Where the program's stdout and stderr go (the same file by default)."""
    out = settings['stdout'] or os.path.join(settings['log-dir'], settings['name'] + '.log')
    return out, settings['stderr'] or out


def open_for_append(path, account=None):
    """The log ``path`` opened to append to (open_dir, then open_in)."""
    dir_fd = open_dir(path, account)
    try:
        return open_in(dir_fd, path, account)
    finally:
        os.close(dir_fd)


def open_dir(path, account=None):
    """A descriptor of the directory of the log ``path``, created if needed,
    opened safely and refused (LaunchError) unless nobody but us, root or
    the service's user can write it."""
    directory = os.path.dirname(path)
    owners = {os.geteuid()} | ({account.pw_uid} if account is not None else set())
    try:
        dir_fd = trusted.open_directory(directory, create=True)
    except trusted.Untrusted as e:
        raise LaunchError('not-configured', 'cannot open the log %s: %s' % (path, e))
    except OSError as e:
        raise LaunchError('permission' if isinstance(e, PermissionError) else 'not-configured',
                          'cannot open the log %s: %s' % (path, e.strerror))
    why = trusted.refuse_directory(directory, os.fstat(dir_fd), owners, 'log dir')
    if why:
        os.close(dir_fd)
        raise LaunchError('not-configured', 'refusing the log %s: %s' % (path, why))
    return dir_fd


def open_in(dir_fd, path, account=None, mode=0o644):
    """The log ``path`` opened to append to, relative to ``dir_fd`` (its
    directory, from open_dir), created (with ``mode``) if need be and
    chowned (by descriptor) to the service's user."""
    try:
        fd = trusted.open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode,
                               dir_fd=dir_fd, what='the log')
    except trusted.Untrusted as e:
        raise LaunchError('not-configured', str(e))
    except OSError as e:
        raise LaunchError('permission' if isinstance(e, PermissionError)
                          else 'not-configured',
                          'cannot open the log %s: %s' % (path, e.strerror))
    st = os.fstat(fd)
    if account is not None and (st.st_uid, st.st_gid) != (account.pw_uid, account.pw_gid):
        os.fchown(fd, account.pw_uid, account.pw_gid)
    return fd


def open_to_read(path):
    """A descriptor to read the log ``path`` (root may read what the
    service's user planted), its directory walked safely.  Raises
    trusted.Untrusted (the one line to say) or OSError."""
    dir_fd = trusted.open_directory(os.path.dirname(path))
    try:
        return trusted.open_file(path, os.O_RDONLY, dir_fd=dir_fd, what='the log')
    finally:
        os.close(dir_fd)


def tail(path, offset, lines=10):
    """The last lines a program wrote to its log since ``offset``."""
    try:
        with open(open_to_read(path), 'rb') as f:
            f.seek(max(offset, os.fstat(f.fileno()).st_size - 65536))
            data = f.read(65536)
    except (OSError, trusted.Untrusted):
        return []
    return [l.decode(errors='replace') for l in data.splitlines()[-lines:]]


def size(path):
    try:
        return os.stat(path, follow_symlinks=False).st_size
    except OSError:
        return 0


LONGEST_LINE = 1 << 20


class Log:

    def __init__(self, path, max_bytes=0, backups=0, account=None, mode=0o644):
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self.account, self.mode = account, mode
        self.fd = None
        self.dir_fd = None          # the directory the open file is in
        self.limit = max_bytes      # the size that makes a rotation due
        self.refused = None         # the last refusal said, not to repeat it
        self.size = 0
        self.at_boundary = True     # the last byte written ends a line
        self.reopen_due = False
        self.overdue = 0            # bytes written since a switch fell due
        self.notes = []
        self.open()
        self.at_boundary = self.ends_a_line()

    def open(self):
        self.dir_fd = open_dir(self.path, self.account)
        self.fd = open_in(self.dir_fd, self.path, self.account, self.mode)
        self.size = os.fstat(self.fd).st_size

    def ends_a_line(self):
        """Does the file end where a line ends?  A keeper that adopts a
        program may find the line its killed predecessor was writing
        unfinished: its own notes must wait for the rest.  (The descriptor
        is write-only; /proc reopens the very same file for reading.)"""
        if self.size == 0:
            return True
        try:
            reader = os.open('/proc/self/fd/%d' % self.fd, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return True
        try:
            return os.pread(reader, 1, self.size - 1) == b'\n'
        except OSError:
            return True
        finally:
            os.close(reader)

    def close(self):
        for fd in (self.fd, self.dir_fd):
            if fd is not None:
                os.close(fd)
        self.fd = self.dir_fd = None

    def reopen(self):
        """logrotate moved the file away: go on in a new one at the next
        line end (at once, if the last line is complete)."""
        self.reopen_due = True
        if self.at_boundary:
            self._switch()

    def due(self):
        return self.reopen_due or (self.max_bytes and self.size >= self.limit)

    def write(self, data):
        while data:
            if self.due():
                if self.at_boundary or self.overdue > LONGEST_LINE:
                    self._switch()
                else:
                    end = data.find(b'\n')
                    if end < 0:
                        self._put(data)
                        self.overdue += len(data)
                        return
                    self._put(data[:end + 1])
                    data = data[end + 1:]
                    continue
            if self.max_bytes and self.size + len(data) > self.limit:
                end = data.find(b'\n', max(0, self.limit - self.size - 1))
                if 0 <= end < len(data) - 1:
                    self._put(data[:end + 1])
                    data = data[end + 1:]
                    continue
            self._put(data)
            return

    def note(self, text):
        """A line of the keeper's own, never inside a line of the program's."""
        self.notes.append(text.rstrip('\n').encode(errors='replace') + b'\n')
        if self.at_boundary:
            self._put_notes()

    def _put(self, data):
        view = memoryview(data)
        while view:
            try:
                done = os.write(self.fd, view)
            except InterruptedError:
                continue
            except OSError:
                return              # disk full: what cannot be written is lost
            view = view[done:]
            self.size += done
        self.at_boundary = data.endswith(b'\n')
        if self.at_boundary and self.notes:
            self._put_notes()

    def _put_notes(self):
        notes, self.notes = b''.join(self.notes), []
        self._put(notes)

    def _switch(self):
        try:
            dir_fd = open_dir(self.path, self.account)
        except LaunchError as e:
            self._refuse(str(e))
            return
        try:
            if self.max_bytes and self.size >= self.max_bytes and not self.reopen_due:
                self._rotate()
            fd = open_in(dir_fd, self.path, self.account, self.mode)
        except LaunchError as e:
            os.close(dir_fd)
            self._refuse(str(e))
            return
        self.close()
        self.fd, self.dir_fd = fd, dir_fd
        self.size = os.fstat(fd).st_size
        self.limit, self.refused = self.max_bytes, None
        self.reopen_due = False
        self.overdue = 0

    def _refuse(self, why):
        """No new file: write on in this one, and say why in it (once)."""
        self.reopen_due = False
        self.overdue = 0
        self.limit = self.size + self.max_bytes
        if why != self.refused:
            self.refused = why
            self.note('%s keeper[%d]: not switching to a new log file, writing on in this'
                      ' one: %s' % (time.strftime('%Y-%m-%d %H:%M:%S'), os.getpid(), why))

    def _rotate(self):
        """NAME.log -> NAME.log.1 -> ... -> NAME.log.N; the oldest goes.  In
        the directory the file we write is in, never through a symlink."""
        name = os.path.basename(self.path)
        names = [name] + ['%s.%d' % (name, n) for n in range(1, self.backups + 1)]
        at = self.dir_fd
        try:
            if self.backups == 0:
                os.unlink(name, dir_fd=at)
                return
            for older, newer in reversed(list(zip(names, names[1:]))):
                try:
                    os.stat(older, dir_fd=at, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                os.replace(older, newer, src_dir_fd=at, dst_dir_fd=at)
        except OSError:
            pass                    # then the file just grows: never lose lines
