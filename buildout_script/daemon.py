"""``Daemon``: the supay-style class for a script that daemonizes itself.

    from buildout_script import Daemon

    daemon = Daemon(name='worker', pid_dir='var/run', catch_all_log='var/log')
    if sys.argv[1] == 'start':
        daemon.start()          # returns inside the daemon; the caller exits
        serve_forever()
    elif sys.argv[1] == 'stop':
        daemon.stop()

It keeps the same state files as ``ctl`` (NAME.pid and NAME.identity in
``pid_dir``), so ``bin/NAMEctl status`` and ``Daemon.status()`` agree.
Methods return values a program can use: ``status()`` a Status (``.code``
is the LSB status code, ``.state``, ``.pid``, ``.uptime``), ``stop()`` an
Outcome (``.code``, ``.message``); ``start()`` and ``restart()`` return in
the daemon and end the calling process (exit 0 started or already running,
1 failed).  A state file we may not read is a ``StateError`` naming the
path, never "not running".
"""

import atexit
import math
import os
import signal
import sys

from . import lifecycle
from . import process
from . import program
from . import config


class Daemon:

    def __init__(self, name, pid_dir='var/run', stdin=os.devnull, stdout=None,
                 stderr=None, catch_all_log=None, log=True, verbose=True,
                 stop_timeout=10):
        """``catch_all_log`` is a directory: stdout and stderr both go to
        ``<catch_all_log>/<name>.log`` unless given.  ``log`` writes a line
        there when the daemon starts and stops; ``verbose`` says what
        happened on the terminal of the command."""
        log_dir = catch_all_log or pid_dir
        self.settings = config.parse({
            'name': name, 'pid-dir': pid_dir, 'log-dir': log_dir,
            'stop-timeout': str(stop_timeout)})
        default = os.path.join(self.settings['log-dir'], name + '.log')
        self.stdin = os.path.abspath(stdin)     # opened after chdir('/')
        self.stdout = os.path.abspath(stdout) if stdout else (
            default if catch_all_log else os.devnull)
        self.stderr = os.path.abspath(stderr) if stderr else self.stdout
        self.log = log
        self.verbose = verbose
        self.files = lifecycle.files_of(self.settings)

    @property
    def name(self):
        return self.settings['name']

    def status(self):
        return lifecycle.status(self.settings, self.files)

    def start(self):
        """Become the daemon: returns in the detached grandchild; the calling
        process exits 0 once the grandchild has recorded itself (or 1)."""
        with lifecycle.locked(self.settings) as files:
            current = self.status()
            if current.code == lifecycle.STATUS_RUNNING:
                self._say('%s is already running (pid %d)' % (self.name, current.pid))
                sys.exit(0)
            files.clear()
            answer, report = program.detach()
            if report is None:                          # the caller
                if answer.isdigit():
                    self._say('%s started (pid %s)' % (self.name, answer))
                    os._exit(0)
                self._say('%s failed to start: %s' % (self.name, answer or 'it died'))
                os._exit(1)
        # The detached grandchild; leaving the with block closed its copy of the lock.
        try:
            self._become_daemon()
            me = process.identity(os.getpid())
            self.files.write(me, group=False)
            self.files.clear_stopped()
        except BaseException as e:
            os.write(report, str(e).encode() or b'error')
            os._exit(1)
        os.write(report, b'%d' % os.getpid())
        os.close(report)
        if self.log:
            print('%s started (pid %d)' % (self.name, os.getpid()), flush=True)
        atexit.register(self._forget_if_mine)

    def stop(self):
        with lifecycle.locked(self.settings):
            outcome = lifecycle.stop(self.settings, self.files, on_purpose=False)
        self._say(outcome.message)
        return outcome

    def restart(self):
        """Stop the running daemon, then become the new one (see start)."""
        self.stop()
        self.start()

    def spawn_child(self, timeout):
        """Fork an extra, untracked copy of this process: True in the copy,
        False in the caller.  It has no PID file, so nothing would ever stop
        it; the kernel ends it with SIGALRM after ``timeout`` seconds."""
        if not timeout or timeout <= 0:
            raise ValueError('spawn_child needs a timeout in seconds')
        sys.stdout.flush()
        sys.stderr.flush()
        first = os.fork()
        if first:
            os.waitpid(first, 0)
            return False
        if os.fork():               # so that init, not we, reaps the copy
            os._exit(0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(max(1, math.ceil(timeout)))
        return True

    # -- inside the daemon --------------------------------------------------------

    def _become_daemon(self):
        """chdir, umask and standard streams, in the order of PEP 3143."""
        os.chdir('/')
        os.umask(0o022)
        stdin = os.open(self.stdin, os.O_RDONLY)
        out = program.open_log(self.stdout) if self.stdout != os.devnull else os.open(
            os.devnull, os.O_WRONLY)
        err = out if self.stderr == self.stdout else program.open_log(self.stderr)
        for fd, target in ((0, stdin), (1, out), (2, err)):
            os.dup2(target, fd)
        for fd in {stdin, out, err}:
            os.close(fd)

    def _forget_if_mine(self):
        """On a clean exit of the daemon, its PID file goes with it."""
        record = self.files.read()
        if record.pid == os.getpid():
            self.files.clear()
            if self.log:
                print('%s stopped (pid %d)' % (self.name, os.getpid()), flush=True)

    def _say(self, message):
        if self.verbose and message:
            print(message, flush=True)
