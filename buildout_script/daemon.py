"""``Daemon``: the face of supay (the project's ancestor) for a script that
daemonizes itself.  A script written for supay runs unchanged with
``import buildout_script as supay``:

    daemon = supay.Daemon(name='worker', pid_dir='/tmp', catch_all_log='/tmp')
    if sys.argv[1] == 'start':
        daemon.start()          # returns inside the daemon; the caller exits
        serve_forever()
    elif sys.argv[1] == 'stop':
        daemon.stop()
    elif sys.argv[1] == 'spawn':
        daemon.spawn_child()    # an untracked copy that ends by itself
        do_one_job()
    elif sys.argv[1] == 'status':
        daemon.status()         # prints supay's line, returns a Status

Underneath it is the lifecycle of ``ctl``: the same state files (NAME.pid
and NAME.identity in ``pid_dir``), the same lock, the same stop schedule,
logs appended.  So ``bin/NAMEctl status`` and ``Daemon.status()`` agree.

A directory it cannot use, or a state file that someone else made in a
directory others can write (such as /tmp), ends the calling script with one
line on ``err_writer`` and exit 1 (4 for status), as supay's errors did --
never a traceback.
"""

import atexit
import os
import signal
import sys

from . import config
from . import launch
from . import lifecycle
from . import modes
from . import process
from . import trusted
from .servicefiles import ServiceFiles, StateError

# supay's defaults: the system's places, which need root.  An ordinary user
# passes directories of their own (supay's README said the same).
PID_DIR = '/var/run'
LOG_DIR = '/var/log'
# A spawned copy has no PID file, so nothing could stop it: it ends after
# this many seconds unless spawn_child(timeout=...) says otherwise.
SPAWN_TIMEOUT = 3600


class Daemon:

    def __init__(self, name='PythonDaemon', pid_dir=PID_DIR, log=True, catch_all_log=False,
                 stdin=None, stdout=None, stderr=None, err_writer=None, verbose=True,
                 stop_timeout=10):
        """supay's arguments with supay's meanings: ``stdout``, ``stderr``
        and ``catch_all_log`` (both of them at once) name a file, or a
        directory that holds ``NAME.log``; they default to LOG_DIR/NAME.log.
        ``log=False`` sends the daemon's output to /dev/null.  ``stdin`` is
        /dev/null unless given.  ``err_writer`` (default sys.stderr) gets
        the one line of an error.  Ours: ``verbose`` (say what happened on
        the terminal; each method takes it too) and ``stop_timeout``
        (seconds between the stop signal and KILL)."""
        try:
            self.settings = config.parse({'name': name, 'pid-dir': pid_dir,
                                          'stop-timeout': str(stop_timeout)})
        except config.SettingError as e:
            raise ValueError('Daemon(%s=...): %s' % (e.option.replace('-', '_'), e.message))
        self.log = log
        self.catch_all_log = catch_all_log
        self.err_writer = err_writer
        self.verbose = verbose
        # supay's own examples keep the PID file in /tmp: a sticky dir is
        # accepted here (never for ctl), where a file someone else planted
        # is refused (_refuse_strangers) and ours cannot be replaced.
        self.files = ServiceFiles(self.settings['pid-dir'], self.settings['name'],
                                  sticky_ok=True)
        both = self._log_path(catch_all_log) if catch_all_log else None
        if log:
            self.stdout = self._log_path(stdout) if stdout else both or self._log_path(LOG_DIR)
            self.stderr = self._log_path(stderr) if stderr else both or self.stdout
        else:
            self.stdout = self.stderr = os.devnull
        self.stdin = self._log_path(stdin) if stdin else os.devnull

    @property
    def name(self):
        return self.settings['name']

    @property
    def pid_dir(self):
        return self.settings['pid-dir']

    @property
    def pid(self):
        """The PID file's path (supay's name for it)."""
        return self.files.pid

    # -- supay's methods ------------------------------------------------------------

    def status(self, verbose=None):
        """Print supay's line (when verbose) and return the Status:
        ``.code`` (the LSB status code), ``.state``, ``.pid``, ``.uptime``."""
        try:
            self._refuse_strangers()
            st = modes.status(self.settings, self.files)
        except StateError as e:
            self._fail(e, lifecycle.STATUS_UNKNOWN)
        if st.state == 'running':
            line = '%s process is running with PID: %d' % (self.name, st.pid)
        elif st.state == 'dead':
            line = '%s process is not running (its PID file %s names pid %d, which is' \
                   ' gone)' % (self.name, self.files.pid, st.pid)
        else:
            line = '%s process is not running.' % self.name
        self._say(line, verbose)
        return st

    def start(self, check_pid=True, verbose=None):
        """Become the daemon: returns in the detached grandchild; the calling
        process exits 0 once the grandchild has recorded itself (or it was
        already running), 1 if it failed.  ``check_pid=False`` is supay's
        way to an untracked copy: see spawn_child."""
        if not check_pid:
            return self._detach_copy(SPAWN_TIMEOUT, verbose)
        try:
            self._refuse_strangers()
            with lifecycle.locked(self.settings, self.files) as files:
                current = modes.status(self.settings, files)
                if current.code == lifecycle.STATUS_RUNNING:
                    self._say('%s is already running (pid %d)' % (self.name, current.pid),
                              verbose)
                    sys.exit(0)
                streams = self._open_streams()
                files.forget_program()
                answer, report = launch.detach()
                if report is None:                          # the caller
                    self._close(streams)
                    self._caller_exits(answer, verbose, '%s started (pid %%s)' % self.name)
        except StateError as e:
            self._fail(e)
        # The detached grandchild; leaving the with block closed its copy of the lock.
        try:
            self._become_daemon(streams)
            me = process.identity(os.getpid())
            self.files.record_program(me, group=False)
            self.files.clear_stopped()
        except BaseException as e:
            os.write(report, str(e).encode() or b'error')
            os._exit(1)
        os.write(report, b'%d' % os.getpid())
        os.close(report)
        if self.log:
            print('%s started (pid %d)' % (self.name, os.getpid()), flush=True)
        atexit.register(self._forget_if_mine)

    def stop(self, verbose=None):
        """Stop the daemon with the stop schedule (SIGTERM, ``stop_timeout``
        seconds, KILL); returns an Outcome (``.code`` 0: it is not running)."""
        try:
            self._refuse_strangers()
            with lifecycle.locked(self.settings, self.files):
                outcome = modes.stop(self.settings, self.files, on_purpose=False)
        except StateError as e:
            self._fail(e)
        self._say(outcome.message, verbose)
        return outcome

    def restart(self, verbose=None):
        """Stop the running daemon, then become the new one (see start)."""
        if self.stop(verbose).code != lifecycle.SUCCESS:
            sys.exit(1)
        self.start(verbose=verbose)

    def spawn_child(self, timeout=SPAWN_TIMEOUT):
        """supay's spawn: an extra copy of this script, detached as the
        daemon is but untracked (no PID file), so nothing would ever stop it;
        it ends by SIGALRM after ``timeout`` seconds (default SPAWN_TIMEOUT,
        one hour).  Returns True in the copy; the calling process exits 0
        once the copy runs (1 if it could not)."""
        if timeout is None or not 0 < timeout < float('inf'):
            raise ValueError('spawn_child(timeout=...) takes a number of seconds > 0,'
                             ' got %r' % (timeout,))
        return self._detach_copy(timeout, False)

    # -- the copy -----------------------------------------------------------------------

    def _detach_copy(self, timeout, verbose):
        try:
            streams = self._open_streams()
        except StateError as e:
            self._fail(e)
        answer, report = launch.detach()
        if report is None:
            self._close(streams)
            self._caller_exits(answer, verbose, '%s spawned an untracked copy (pid %%s) that'
                               ' ends within %gs' % (self.name, timeout))
        try:
            self._become_daemon(streams)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.setitimer(signal.ITIMER_REAL, timeout)
        except BaseException as e:
            os.write(report, str(e).encode() or b'error')
            os._exit(1)
        os.write(report, b'%d' % os.getpid())
        os.close(report)
        return True

    def _caller_exits(self, answer, verbose, done):
        """The calling process ends here, once the detached one has said how
        it went; ``done`` is the line to say, with %s for its PID."""
        if answer.isdigit():
            self._say(done % answer, verbose)
            os._exit(0)
        self._err('%s failed to start: %s' % (self.name, answer or 'it died'))
        os._exit(1)

    # -- files and streams ----------------------------------------------------------------

    def _log_path(self, path):
        """supay's rule: a directory means DIR/NAME.log; a file stays a file.
        A path ending in / is a directory even before it exists."""
        text = os.path.expanduser(str(path))
        path = os.path.abspath(text)                    # used after chdir('/')
        if text.endswith(os.sep) or os.path.isdir(path):
            return os.path.join(path, self.name + '.log')
        return path

    def _refuse_strangers(self):
        """A state file counts only if it is a regular file of ours (or
        root's) that nobody else may write: in a directory others can
        write, such as /tmp, anyone could have left one naming any process.
        Checked up front, for the files the lifecycle only tests for."""
        for path in (self.files.pid, self.files.identity, self.files.lock_path,
                     self.files.stopped, self.files.restarts):
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                continue                # prepare() says what is wrong with the dir
            except OSError as e:
                raise StateError('cannot look at %s: %s' % (path, e.strerror),
                                 permission=isinstance(e, PermissionError))
            why = trusted.refuse_file(path, st, {os.geteuid()})   # lstat: links refused
            if why:     # another's file in a sticky dir: only they (or root) may remove it
                raise StateError(why + '; or pass Daemon(pid_dir=DIR) a directory of yours')

    def _open_streams(self):
        """(stdin, stdout, stderr) descriptors, opened by the caller so that a
        log it cannot use is said at once, before anything detaches."""
        stdin = self._open(self.stdin, os.O_RDONLY)
        out = self._open(self.stdout, os.O_WRONLY | os.O_APPEND)
        err = out if self.stderr == self.stdout else self._open(
            self.stderr, os.O_WRONLY | os.O_APPEND)
        return stdin, out, err

    def _open(self, path, flags):
        """Create (never truncate) and open a log, never through a symlink,
        and only if it is ours (or root's): a log someone else left in /tmp
        is refused."""
        if path == os.devnull:
            return os.open(path, flags)
        try:
            if flags != os.O_RDONLY:
                os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = trusted.open_file(path, flags | os.O_CREAT, what='the log')
        except trusted.Untrusted as e:
            raise StateError(str(e))
        except OSError as e:
            raise StateError('cannot open the log %s: %s; pass Daemon(catch_all_log=DIR)'
                             ' (or stdout=, stderr=) a place of yours'
                             % (path, e.strerror.lower() if e.strerror else e),
                             permission=isinstance(e, PermissionError))
        owner = os.fstat(fd).st_uid
        if owner not in (os.geteuid(), 0):
            os.close(fd)
            raise StateError('the log %s belongs to %s, not to you; refusing it'
                             % (path, trusted.owner_name(owner)))
        return fd

    @staticmethod
    def _close(streams):
        for fd in set(streams):
            os.close(fd)

    # -- inside the daemon --------------------------------------------------------

    def _become_daemon(self, streams):
        """chdir, umask and standard streams, in the order of PEP 3143."""
        os.chdir('/')
        os.umask(0o022)
        for fd, target in zip((0, 1, 2), streams):
            os.dup2(target, fd)
        self._close(fd for fd in streams if fd > 2)
        for stream in (sys.stdout, sys.stderr):     # a line is in the log once printed
            if hasattr(stream, 'reconfigure'):
                stream.reconfigure(line_buffering=True)

    def _forget_if_mine(self):
        """On a clean exit of the daemon, its PID file goes with it."""
        record = self.files.read_program()
        if record.pid == os.getpid():
            self.files.forget_program()
            if self.log:
                print('%s stopped (pid %d)' % (self.name, os.getpid()), flush=True)

    # -- saying things ------------------------------------------------------------------------

    def _say(self, message, verbose=None):
        if (self.verbose if verbose is None else verbose) and message:
            print(message, flush=True)

    def _err(self, line):
        writer = self.err_writer or sys.stderr
        writer.write(line + '\n')
        writer.flush()

    def _fail(self, error, code=1):
        """supay's way with errors: one line on err_writer, then exit."""
        hint = ''
        if error.permission and 'pid_dir' not in str(error) and 'Daemon(' not in str(error):
            hint = '; as an ordinary user, pass Daemon(pid_dir=DIR) a directory of yours'
        self._err('%s: %s%s' % (self.name, error, hint))
        sys.exit(code)
