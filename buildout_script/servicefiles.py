"""The state files of one service, in its pid dir.

    NAME.pid        the bare PID, for monit, logrotate, systemd PIDFile=, ...
    NAME.identity   "PID START BOOT GROUP": what proves the PID is still ours
    NAME.lock       flock()ed by every control command (mode 0600, so no one
                    else can take it); the kernel drops it when the holder
                    dies, so a crash never leaves it stuck
    NAME.stopped    present while a person has stopped the service on purpose
    NAME.restarts   the watchdog's restart history (JSON)
    NAME.failures   the check's count of consecutive failed probes
    NAME.settings   what the running program was started with (fingerprint.py)
    NAME.starting   present while start launches the program and waits for it
                    to be ready: "PID|- STARTER-IDENTITY"
    NAME.keeper     in supervised mode: "keeper PID START BOOT", then what the
                    keeper knows of the service ("state running", "restarts 2";
                    the fields are states.FIELDS)
    NAME.kept       in supervised mode: the settings (and the environment of
                    the start) a keeper needs to take the service over (0600)

and, for the pid dir's one keeper (KeeperFiles; a service name cannot
start with a dot, so these are no service's):

    .keeper.lock    flock()ed by the keeper for its whole life: one keeper
    .keeper.sock    where it answers requests (wire.py), mode 0600
    .keeper.log     what it has to say that concerns no one service

Trust: the pid dir is opened once, component by component (trusted.py), and
must be one nobody else can write; every file is opened relative to it,
never through a symlink, never blocking (a planted FIFO), checked before it
is read (a regular file of ours, writable by no one else, one link) and read
with a size bound.  Anything else is refused with one line.  Every file is
replaced atomically (temp file + rename); the record of a started program
is also fsync()ed, so a power loss leaves the old record or the new one.
"""

import errno
import os
import sys
import time

from . import process
from . import trusted
from .process import Identity

READ_LIMIT = 4096               # a state file is a line or two
KEPT_LIMIT = 1 << 20            # NAME.kept: settings and an environment


class StateError(Exception):
    """A state file or directory we cannot use; the message names the path."""

    def __init__(self, message, permission=False, configuration=False):
        super().__init__(message)
        self.permission = permission        # LSB 4: insufficient privilege
        self.configuration = configuration  # LSB 6: not configured


class Record:
    """What the PID file says, and whether the identity beside it backs it."""
    __slots__ = ('pid', 'ident', 'group', 'torn')

    def __init__(self, pid, ident, group, torn=False):
        self.pid = pid          # None: no PID file (or a torn one)
        self.ident = ident      # None: nothing proves whose PID it is
        self.group = group      # the program leads its own process group
        self.torn = torn        # an empty PID file (a write cut short by a crash)


NO_RECORD = Record(None, None, False)


def open_pid_dir(path, create=False, sticky_ok=False):
    """A descriptor of the pid dir ``path`` once it is proven safe (ours or
    root's, writable by nobody else), or None if it does not exist (and not
    ``create``).  StateError says why not."""
    try:
        fd = trusted.open_directory(path, create=create)
    except FileNotFoundError:
        return None
    except trusted.Untrusted as e:
        raise StateError(str(e), configuration=True)
    except PermissionError:
        raise StateError('cannot create or read the pid dir %s: permission denied'
                         % path, permission=True)
    except OSError as e:
        raise StateError('cannot use the pid dir %s: %s' % (path, e.strerror))
    why = trusted.refuse_directory(path, os.fstat(fd), {os.geteuid()}, 'pid dir', sticky_ok)
    if why:
        os.close(fd)
        raise StateError(why, configuration=True)
    return fd


class ServiceFiles:

    def __init__(self, pid_dir, name, sticky_ok=False):
        self.dir = pid_dir
        self.sticky_ok = sticky_ok      # a /tmp-like pid dir: the supay face only
        self.name = name
        self.pid = os.path.join(pid_dir, name + '.pid')
        self.identity = os.path.join(pid_dir, name + '.identity')
        self.lock_path = os.path.join(pid_dir, name + '.lock')
        self.stopped = os.path.join(pid_dir, name + '.stopped')
        self.restarts = os.path.join(pid_dir, name + '.restarts')
        self.failures = os.path.join(pid_dir, name + '.failures')
        self.settings = os.path.join(pid_dir, name + '.settings')
        self.starting = os.path.join(pid_dir, name + '.starting')
        self.keeper = os.path.join(pid_dir, name + '.keeper')
        self.kept = os.path.join(pid_dir, name + '.kept')
        self._fd = None                 # the pid dir, while the lock is held

    # -- the pid dir --------------------------------------------------------

    def open_dir(self, create=False):
        """A descriptor of the pid dir once it is proven safe, or None if it
        does not exist (and not ``create``)."""
        return open_pid_dir(self.dir, create, self.sticky_ok)

    def prepare(self):
        """Create the pid dir if needed and refuse one that others could write."""
        fd = self.open_dir(create=True)
        os.close(fd)

    # -- the record of the running program -----------------------------------

    def read_program(self):
        """The Record of the program on disk (NO_RECORD if there is no PID file).

        The two files are replaced one after the other, so a reader racing
        a start or stop may see a PID and the identity of another; it reads
        again once rather than call a stopping service dead."""
        with _InDir(self) as fd:
            record = self._read_once(fd)
            if record.pid is not None and record.ident is None:
                record = self._read_once(fd)
            return record

    def _read_once(self, fd):
        text = self._read(fd, self.pid)
        if text is None:
            return NO_RECORD
        if not text.strip('\0 \t\n'):    # empty or zeros: cut short by a crash
            return Record(None, None, False, torn=True)
        try:
            pid = int(text.strip())
        except ValueError:
            pid = 0
        if pid <= 0:
            raise StateError('the PID file %s does not hold a PID (%r); remove it'
                             % (self.pid, text[:40]))
        ident, group = None, False
        line = self._read(fd, self.identity)
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

    def record_program(self, ident, group):
        """Record a started program: identity first, so a PID file never
        exists without the proof beside it; both reach the disk."""
        with _InDir(self, create=True) as fd:
            self._replace(fd, self.identity, '%s %s\n' % (
                ident, 'group' if group else 'single'), durable=True)
            self._replace(fd, self.pid, '%d\n' % ident.pid, durable=True)

    def forget_program(self):
        """Forget the program: PID file first, for the same reason."""
        with _InDir(self) as fd:
            for path in (self.pid, self.identity):
                self._remove(fd, path)

    # -- stopped on purpose ---------------------------------------------------

    def mark_stopped(self):
        with _InDir(self, create=True) as fd:
            self._replace(fd, self.stopped, time.strftime('%Y-%m-%d %H:%M:%S\n'))

    def clear_stopped(self):
        with _InDir(self) as fd:
            self._remove(fd, self.stopped)

    def stopped_on_purpose(self):
        """The time of the `ctl stop` that is still in force, or None."""
        with _InDir(self) as fd:
            text = self._read(fd, self.stopped)
        return text.strip() if text is not None else None

    # -- the watchdog's history --------------------------------------------------

    def read_restarts(self):
        text = self._restarts_text()
        if not text:
            return {}                   # no restart: no json to import
        import json
        import math
        try:
            history = json.loads(text)
        except ValueError:
            return {}
        finite = lambda t: isinstance(t, (int, float)) and not isinstance(t, bool) \
            and math.isfinite(t)
        if not isinstance(history, dict) or not isinstance(history.get('restarts', []), list) \
                or not all(finite(t) for t in history.get('restarts', ())) \
                or not (not history.get('gave_up') or finite(history['gave_up'])) \
                or not isinstance(history.get('reported'), (str, type(None))):
            return {}                   # not ours to understand: start afresh
        return history

    def read_restarts_total(self):
        """The history's never-pruned count of restarts (0 when none), read
        without json: the metrics of a healthy check are written in well
        under the 2 ms that importing json would cost.  write_restarts
        writes it as ``"total": N``."""
        words = self._restarts_text().partition('"total": ')[2].split(',')[0].split('}')[0]
        return int(words.strip()) if words.strip().isdigit() else 0

    def restarts_hold(self, key):
        """Might the history hold ``key``?  Read without json, as the total
        is: a healthy check asks it every run; False is certain."""
        return '"%s"' % key in self._restarts_text()

    def _restarts_text(self):
        with _InDir(self) as fd:
            return self._read(fd, self.restarts) or ''

    def write_restarts(self, history):
        import json
        with _InDir(self, create=True) as fd:
            self._replace(fd, self.restarts, json.dumps(history, sort_keys=True) + '\n')

    def clear_restarts(self):
        with _InDir(self) as fd:
            self._remove(fd, self.restarts)

    def read_failures(self):
        """Consecutive failed probes so far (0 when none are recorded)."""
        with _InDir(self) as fd:
            text = self._read(fd, self.failures)
        try:
            return max(0, int(text)) if text else 0
        except ValueError:
            return 0

    def write_failures(self, count):
        with _InDir(self, create=True) as fd:
            if count:
                self._replace(fd, self.failures, '%d\n' % count)
            else:
                self._remove(fd, self.failures)

    # -- what the program was started with ----------------------------------------

    def read_settings(self):
        """The recorded fingerprint text, or None (none recorded, or not ours
        to read: it is private to the user that started the program)."""
        try:
            with _InDir(self) as fd:
                return self._read(fd, self.settings)
        except StateError:
            return None

    def write_settings(self, text):
        with _InDir(self, create=True) as fd:
            self._replace(fd, self.settings, text, mode=0o600)

    def clear_settings(self):
        with _InDir(self) as fd:
            self._remove(fd, self.settings)

    # -- start in progress ------------------------------------------------------------

    def mark_starting(self, pid, starter):
        """``starter`` is the identity of the command starting the program
        (``pid``, or None before it is launched and recorded): if that
        command dies, the marker is stale."""
        with _InDir(self, create=True) as fd:
            self._replace(fd, self.starting, '%s %s\n' % (pid or '-', starter))

    def clear_starting(self):
        with _InDir(self) as fd:
            self._remove(fd, self.starting)

    def read_starting(self):
        """(the PID being started or None, the starter's identity) from
        NAME.starting, or None if there is no such marker."""
        with _InDir(self) as fd:
            text = self._read(fd, self.starting)
        words = (text or '').split()
        try:
            starter = Identity.from_text(' '.join(words[1:4]))
            return (int(words[0]) if words[0] != '-' else None), starter
        except (ValueError, IndexError):
            return None

    def starting_for(self, pid):
        """The identity of the command still starting ``pid``, or None."""
        marker = self.read_starting()
        return marker[1] if marker is not None and marker[0] == pid else None

    # -- the keeper (supervised mode) ----------------------------------------------

    def read_keeper(self):
        """(Identity of the keeper, its states.Record of this service), or
        (None, an empty Record) if there is no keeper record (or not one we
        wrote)."""
        from .states import Record
        ident, lines = self._keeper_lines()
        return ident, Record.from_lines(lines) if ident else Record()

    def keeper_identity(self):
        """The keeper's Identity alone (None if there is no record of one):
        the cron mode's status asks only this, and so needs no states.py."""
        return self._keeper_lines()[0]

    def _keeper_lines(self):
        with _InDir(self) as fd:
            text = self._read(fd, self.keeper)
        lines = (text or '').splitlines()
        words = lines[0].split() if lines else []
        if words[:1] != ['keeper']:
            return None, []
        try:
            return Identity.from_text(' '.join(words[1:])), lines[1:]
        except ValueError:
            return None, []

    def write_keeper(self, ident, record):
        lines = ['keeper %s' % (ident,)] + record.lines()
        with _InDir(self, create=True) as fd:
            self._replace(fd, self.keeper, '\n'.join(lines) + '\n')

    def clear_keeper(self):
        with _InDir(self) as fd:
            self._remove(fd, self.keeper)

    def read_kept(self):
        """What a keeper needs to take the service over (its settings and
        the environment its start was asked from), or None: NAME.kept, in
        marshal form, private to the keeper's user."""
        import marshal
        with _InDir(self) as fd:
            data = self._read(fd, self.kept, limit=KEPT_LIMIT, text=False)
        if not data:
            return None
        try:
            kept = marshal.loads(data)
        except (ValueError, EOFError, TypeError):
            return None
        return kept if isinstance(kept, dict) and isinstance(kept.get('settings'), dict) \
            else None

    def write_kept(self, kept):
        import marshal
        with _InDir(self, create=True) as fd:
            self._replace(fd, self.kept, marshal.dumps(kept), mode=0o600)

    def clear_kept(self):
        with _InDir(self) as fd:
            self._remove(fd, self.kept)

    # -- serialising control commands -------------------------------------------

    def locked(self, wait=30.0):
        """``with files.locked(wait):`` the pid dir prepared and the lock held
        (waiting at most ``wait`` seconds): the one step before any command
        changes a service."""
        return _Lock(self, wait)

    def remove_leftovers(self, fd):
        """Temp files of writers that died between create and rename."""
        prefix = self.name + '.'
        for entry in os.listdir(fd):
            if entry.startswith(prefix) and entry.endswith('.tmp'):
                pid = entry[:-len('.tmp')].rpartition('.')[2]
                if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                    self._remove(fd, os.path.join(self.dir, entry))

    # -- plumbing -------------------------------------------------------------------

    def _open(self, fd, path, flags, mode=0o644, missing_ok=False):
        try:
            return trusted.open_file(path, flags, mode, dir_fd=fd)
        except trusted.Untrusted as e:
            raise StateError(str(e))
        except FileNotFoundError:
            if missing_ok:
                return None
            raise StateError('cannot open %s: no such file or directory' % path)
        except PermissionError:
            raise StateError('cannot open %s: permission denied (run as the user that'
                             ' owns the service, or fix the pid dir)' % path, permission=True)
        except OSError as e:
            raise StateError('cannot open %s: %s' % (path, e.strerror),
                             configuration=e.errno == errno.EISDIR)

    def _read(self, fd, path, limit=READ_LIMIT, text=True):
        """The text (or bytes) of a state file we may trust, None if there is none."""
        if fd is None:
            return None
        f = self._open(fd, path, os.O_RDONLY, missing_ok=True)
        if f is None:
            return None
        try:
            why = trusted.refuse_file(path, os.fstat(f), {os.geteuid()})
            if why:
                raise StateError(why)
            data = b''
            while len(data) <= limit:
                chunk = os.read(f, limit + 1 - len(data))
                if not chunk:
                    break
                data += chunk
        except OSError as e:
            raise StateError('cannot read %s: %s' % (path, e.strerror))
        finally:
            os.close(f)
        if len(data) > limit:
            raise StateError('%s is larger than %d bytes: not one of ours; refusing to'
                             ' read it (remove it)' % (path, limit))
        return data.decode(errors='replace') if text else data

    def _replace(self, fd, path, text, durable=False, mode=0o644):
        name = os.path.basename(path)
        tmp = '%s.%d.tmp' % (name, os.getpid())
        data = text.encode() if isinstance(text, str) else text
        try:
            try:
                os.unlink(tmp, dir_fd=fd)
            except FileNotFoundError:
                pass
            f = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                        | os.O_CLOEXEC, mode, dir_fd=fd)
            try:
                os.fchmod(f, mode)              # whatever the umask: not others'
                while data:
                    data = data[os.write(f, data):]
                if durable:
                    os.fsync(f)
            finally:
                os.close(f)
            os.rename(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            if durable:
                os.fsync(fd)
        except BaseException as e:
            try:
                os.unlink(tmp, dir_fd=fd)
            except OSError:
                pass
            if isinstance(e, OSError):
                raise StateError('cannot write %s: %s' % (path, e.strerror),
                                 permission=isinstance(e, PermissionError))
            raise

    def _remove(self, fd, path):
        if fd is None:
            return
        try:
            os.unlink(os.path.basename(path), dir_fd=fd)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise StateError('cannot remove %s: %s' % (path, e.strerror),
                             permission=isinstance(e, PermissionError))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


class _InDir:
    """``with _InDir(files) as fd:`` the pid dir's descriptor: the one the
    lock holds, or one opened (and closed again) for this step; None when
    the pid dir does not exist and need not."""

    def __init__(self, files, create=False):
        self.files, self.create, self.fd, self.own = files, create, None, False

    def __enter__(self):
        if self.files._fd is not None:
            return self.files._fd
        self.fd = self.files.open_dir(create=self.create)
        self.own = True
        return self.fd

    def __exit__(self, *exc):
        if self.own and self.fd is not None:
            os.close(self.fd)


class _Lock:
    """An flock() on NAME.lock; closing the descriptor (or dying) drops it.

    The wait is bounded: after a second it says (once, on stderr) who holds
    the lock; after ``wait`` seconds it gives up with a StateError.  Where
    NAME.lock cannot exist (a read-only or full disk, and no lock file yet)
    the pid dir itself is locked: every command there falls back alike."""

    def __init__(self, files, wait):
        self.files = files
        self.wait = wait
        self.fd = None

    def __enter__(self):
        files = self.files
        files._fd = files.open_dir(create=True)
        try:
            self.fd = self._open_lock()
            self._take()
            files.remove_leftovers(files._fd)
        except BaseException:
            self.__exit__()
            raise
        return files

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.files._fd is not None:
            os.close(self.files._fd)
            self.files._fd = None

    def _open_lock(self):
        files = self.files
        try:
            fd = files._open(files._fd, files.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except StateError as e:
            if not isinstance(e.__context__, OSError) or e.__context__.errno not in (
                    errno.EROFS, errno.ENOSPC, errno.EDQUOT):
                raise
            fd = files._open(files._fd, files.lock_path, os.O_RDONLY, missing_ok=True)
            if fd is None:
                return os.dup(files._fd)       # no lock file can exist: lock the dir
        st = os.fstat(fd)
        why = trusted.refuse_file(files.lock_path, st, {os.geteuid()})
        if why:
            os.close(fd)
            raise StateError(why)
        if st.st_mode & 0o077 and st.st_uid == os.geteuid():
            try:
                os.fchmod(fd, 0o600)            # a lock of an older version
            except OSError:
                pass
        return fd

    def _take(self):
        import fcntl                    # here: status takes no lock
        started = time.monotonic()
        said = False
        delay = 0.001
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            waited = time.monotonic() - started
            if not said and waited >= 1.0:
                print('%s: waiting for %s, held by %s' % (
                    self.files.name, self.files.lock_path, holder(self.fd)),
                    file=sys.stderr, flush=True)
                said = True
            if waited >= self.wait:
                raise StateError('%s is held by %s for %ds; giving up (is a command'
                                 ' stuck? stop it and try again)' % (
                                     self.files.lock_path, holder(self.fd), waited))
            time.sleep(delay)
            delay = min(delay * 1.5, 0.02)


def holder(fd):
    """Who holds the flock on ``fd``, as best /proc/locks can tell."""
    st = os.fstat(fd)
    where = '%02x:%02x:%d' % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    try:
        with open('/proc/locks') as f:
            for line in f:
                words = line.split()
                if 'FLOCK' in words and where in words and '->' not in words:
                    pid = int(words[words.index(where) - 1])
                    return 'pid %d (%s)' % (pid, process.command(pid))
    except (OSError, ValueError, IndexError):
        pass
    return 'another process'


class KeeperFiles:
    """The pid dir's own files, for its one keeper: the lock it holds for
    its life, the socket it answers on, and which services it keeps
    (those with a NAME.kept)."""

    LOCK, SOCKET, NOTES, KEPT = '.keeper.lock', '.keeper.sock', '.keeper.log', '.kept'

    def __init__(self, pid_dir):
        self.dir = pid_dir
        self.lock_path = os.path.join(pid_dir, self.LOCK)
        self.socket_path = os.path.join(pid_dir, self.SOCKET)

    def open_dir(self, create=False):
        return open_pid_dir(self.dir, create)

    def open_lock(self, dir_fd):
        """The keeper's lock (mode 0600): it holds it for its whole life."""
        files = ServiceFiles(self.dir, 'keeper')
        return files._open(dir_fd, self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    def kept_names(self, dir_fd):
        """The services with a NAME.kept in the pid dir: those a keeper
        keeps (or kept, until it was killed)."""
        return sorted(entry[:-len(self.KEPT)] for entry in os.listdir(dir_fd)
                      if entry.endswith(self.KEPT) and not entry.startswith('.')
                      and len(entry) > len(self.KEPT))
