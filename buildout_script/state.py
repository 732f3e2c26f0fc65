"""The state files of one service, in its pid dir.

    NAME.pid        the bare PID, for monit, logrotate, systemd PIDFile=, ...
    NAME.identity   "PID START BOOT GROUP": what proves the PID is still ours
    NAME.lock       flock()ed by every control command; the kernel drops it
                    when the holder dies, so a crash never leaves it stuck
    NAME.stopped    present while a person has stopped the service on purpose
    NAME.restarts   the watchdog's restart history (JSON)
    NAME.keeper     in supervised mode: "keeper PID START BOOT", then what the
                    keeper knows ("state running", "restarts 2", ...)
    NAME.keeper.lock  flock()ed by the keeper for its whole life

Every file is replaced atomically (temp file + rename) and opened without
following symlinks, so a hostile link in the pid dir cannot redirect a write.
"""

import errno
import fcntl
import os
import stat
import time

from .process import Identity


class StateError(Exception):
    """A state file or directory we cannot use; the message names the path."""

    def __init__(self, message, permission=False, configuration=False):
        super().__init__(message)
        self.permission = permission        # LSB 4: insufficient privilege
        self.configuration = configuration  # LSB 6: not configured


class Record:
    """What the PID file says, and whether the identity beside it backs it."""
    __slots__ = ('pid', 'ident', 'group')

    def __init__(self, pid, ident, group):
        self.pid = pid          # None: no PID file
        self.ident = ident      # None: nothing proves whose PID it is
        self.group = group      # the program leads its own process group


NO_RECORD = Record(None, None, False)


class ServiceFiles:

    def __init__(self, pid_dir, name):
        self.dir = pid_dir
        self.name = name
        self.pid = os.path.join(pid_dir, name + '.pid')
        self.identity = os.path.join(pid_dir, name + '.identity')
        self.lock_path = os.path.join(pid_dir, name + '.lock')
        self.stopped = os.path.join(pid_dir, name + '.stopped')
        self.restarts = os.path.join(pid_dir, name + '.restarts')
        self.keeper = os.path.join(pid_dir, name + '.keeper')
        self.keeper_lock = os.path.join(pid_dir, name + '.keeper.lock')

    # -- the pid dir --------------------------------------------------------

    def prepare(self):
        """Create the pid dir if needed and refuse one that others can
        write without the sticky bit: anyone could swap our PID file."""
        try:
            os.makedirs(self.dir, exist_ok=True)
            st = os.stat(self.dir)
        except PermissionError:
            raise StateError('cannot create or read the pid dir %s: permission denied'
                             % self.dir, permission=True)
        except OSError as e:
            raise StateError('cannot use the pid dir %s: %s' % (self.dir, e.strerror))
        if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
            raise StateError('the pid dir %s is writable by everyone without the sticky'
                             ' bit; use a directory only the service owner can write'
                             ' (chmod o-w %s)' % (self.dir, self.dir), configuration=True)

    # -- the record of the running program -----------------------------------

    def read(self):
        """The Record on disk (NO_RECORD if there is no PID file).

        The two files are replaced one after the other, so a reader racing
        a start or stop may see a PID and the identity of another; it reads
        again once rather than call a stopping service dead."""
        record = self._read_once()
        if record.pid is not None and record.ident is None:
            record = self._read_once()
        return record

    def _read_once(self):
        text = self._read(self.pid)
        if text is None:
            return NO_RECORD
        try:
            pid = int(text.strip())
        except ValueError:
            raise StateError('the PID file %s does not hold a PID (%r); remove it'
                             % (self.pid, text[:40]))
        ident, group = None, False
        line = self._read(self.identity)
        if line:
            try:
                words = line.split()
                ident = Identity.from_text(' '.join(words[:3]))
                group = words[3:] == ['group']
            except ValueError:
                ident = None
        if ident is not None and ident.pid != pid:
            ident = None
        return Record(pid, ident, group)

    def write(self, ident, group):
        """Record a started program: identity first, so a PID file never
        exists without the proof beside it."""
        self._replace(self.identity, '%s %s\n' % (ident, 'group' if group else 'single'))
        self._replace(self.pid, '%d\n' % ident.pid)

    def clear(self):
        """Forget the program: PID file first, for the same reason."""
        for path in (self.pid, self.identity):
            self._remove(path)

    # -- stopped on purpose ---------------------------------------------------

    def mark_stopped(self):
        self._replace(self.stopped, time.strftime('%Y-%m-%d %H:%M:%S\n'))

    def clear_stopped(self):
        self._remove(self.stopped)

    def stopped_on_purpose(self):
        """The time of the `ctl stop` that is still in force, or None."""
        text = self._read(self.stopped)
        return text.strip() if text is not None else None

    # -- the watchdog's history --------------------------------------------------

    def read_restarts(self):
        import json
        text = self._read(self.restarts)
        try:
            history = json.loads(text) if text else {}
        except ValueError:
            return {}
        if not isinstance(history, dict) or not all(
                isinstance(t, (int, float)) for t in history.get('restarts', ())):
            return {}                   # not ours to understand: start afresh
        return history

    def write_restarts(self, history):
        import json
        self._replace(self.restarts, json.dumps(history, sort_keys=True) + '\n')

    def clear_restarts(self):
        self._remove(self.restarts)

    # -- the keeper (supervised mode) ----------------------------------------------

    def read_keeper(self):
        """(Identity of the keeper, {field: text}), or (None, {}) if there
        is no keeper record (or not one we wrote)."""
        text = self._read(self.keeper)
        if not text:
            return None, {}
        lines = text.splitlines()
        words = lines[0].split()
        if words[:1] != ['keeper']:
            return None, {}
        try:
            ident = Identity.from_text(' '.join(words[1:]))
        except ValueError:
            return None, {}
        fields = {}
        for line in lines[1:]:
            key, _, value = line.partition(' ')
            fields[key] = value
        return ident, fields

    def write_keeper(self, ident, fields):
        lines = ['keeper %s' % (ident,)] + [
            '%s %s' % (key, ' '.join(str(value).split()))
            for key, value in fields.items() if value is not None]
        self._replace(self.keeper, '\n'.join(lines) + '\n')

    def clear_keeper(self):
        self._remove(self.keeper)

    # -- serialising control commands -------------------------------------------

    def locked(self):
        """``with files.locked():`` the pid dir prepared and the lock held:
        the one step before any command changes a service."""
        return _Lock(self)

    # -- plumbing -------------------------------------------------------------------

    def _open(self, path, flags, mode=0o644, missing_ok=False):
        try:
            return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
        except FileNotFoundError:
            if missing_ok:
                return None
            raise StateError('cannot open %s: no such file or directory' % path)
        except PermissionError:
            raise StateError('cannot open %s: permission denied (run as the user that'
                             ' owns the service, or fix the pid dir)' % path, permission=True)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise StateError('%s is a symlink; refusing to follow it (remove it)' % path)
            raise StateError('cannot open %s: %s' % (path, e.strerror))

    def _read(self, path):
        fd = self._open(path, os.O_RDONLY, missing_ok=True)
        if fd is None:
            return None
        try:
            with open(fd, 'r', errors='replace') as f:
                return f.read()
        except OSError as e:
            raise StateError('cannot read %s: %s' % (path, e.strerror))

    def _replace(self, path, text):
        tmp = '%s.%d.tmp' % (path, os.getpid())
        self._remove(tmp)
        fd = self._open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            with open(fd, 'w') as f:
                f.write(text)
            os.rename(tmp, path)
        except BaseException as e:
            self._remove(tmp)
            if isinstance(e, OSError):
                raise StateError('cannot write %s: %s' % (path, e.strerror),
                                 permission=isinstance(e, PermissionError))
            raise

    def _remove(self, path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise StateError('cannot remove %s: %s' % (path, e.strerror),
                             permission=isinstance(e, PermissionError))


class _Lock:
    """An flock() on NAME.lock; closing the descriptor (or dying) drops it."""

    def __init__(self, files):
        self.files = files
        self.fd = None

    def __enter__(self):
        self.files.prepare()
        self.fd = self.files._open(self.files.lock_path, os.O_RDWR | os.O_CREAT)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self.files

    def __exit__(self, *exc):
        os.close(self.fd)
        self.fd = None
