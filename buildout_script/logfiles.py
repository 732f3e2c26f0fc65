"""The keeper's log files: whole lines, rotated by size, reopened on request.

The program writes into a pipe; the keeper reads it in chunks and hands
each chunk to ``Log.write`` at once (holding nothing back, so a keeper
killed with -9 loses at most the chunk in its hands).  A switch to a new
file, by size (``log-max-bytes``, keeping ``log-backups`` as NAME.log.1 ..
NAME.log.N, as supervisord and svlogd do) or on request (logrotate's
``create`` mode renamed the file), happens only where a line ends, so no
line is split between two files; a line longer than ``LONGEST_LINE`` past
the limit is the one exception.  The pipe is read, never copied, so no line
is written twice.

Root's keeper works in a log dir the service's user may own, so it holds a
descriptor of the directory (opened safely, program.open_log_dir) and
renames, unlinks and opens relative to it, never through a symlink.  At each
switch the path is walked again, as a start would walk it: when the walk is
refused (someone swapped the dir for a symlink, say), the keeper acts on
neither directory; it writes on into the file it has open, says why in one
line there, and tries again at the next switch (another ``log-max-bytes``
later, or the next reopen-logs).
"""

import os
import time

from . import program

LONGEST_LINE = 1 << 20


class Log:

    def __init__(self, path, max_bytes=0, backups=0, account=None):
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self.account = account
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
        self.dir_fd = program.open_log_dir(self.path, self.account)
        self.fd = program.open_log_in(self.dir_fd, self.path, self.account)
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
            dir_fd = program.open_log_dir(self.path, self.account)
        except program.LaunchError as e:
            self._refuse(str(e))
            return
        try:
            if self.max_bytes and self.size >= self.max_bytes and not self.reopen_due:
                self._rotate()
            fd = program.open_log_in(dir_fd, self.path, self.account)
        except program.LaunchError as e:
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
