"""The keeper: one resident process per pid dir that keeps every supervised
service there (a buildout's ``var/run``).

    ctl / services / check --(.keeper.sock: wire.py)--> keeper
        keeper: child subreaper; per service (kept.py): states and want,
                pidfd or SIGCHLD, log pipes, notify socket, timers
          `--> programs (restarted at once on exit, with backoff)

The first supervised start runs it as ``python -S -m buildout_script.keeper
PID_DIR`` (so ``ps`` says what it is and which buildout it serves) in a
session of its own; it says on stdout that it listens, or why not, then
lives on until it keeps nothing.  Later starts hand their service to it.
A second keeper for the same pid dir cannot take ``.keeper.lock``: never two.

It answers requests on its socket (start, stop, restart, reload,
reopen-logs, status, handover; see ``REQUESTS``), each once it is done.
It waits without polling: one epoll over the socket and its connections,
the log pipes, the notify sockets, the pidfds of adopted programs and a
signal wakeup pipe; its timers (stop schedules, backoff, readiness polls,
watchdogs) in a heap.  Nothing it does blocks, so one service never delays
another: while one waits out a long stop-timeout, another is restarted at
once, and every log line flows.  While all is well nothing wakes it.

It is not a single point of failure.  Killed with -9 it leaves every
program running and writing into its pipes; the next command starts a
keeper that takes over every service with a NAME.kept (kept.take_over).
A newer version of this package takes over the same way: its first
command asks the old keeper to hand over (it ends, leaving the programs)
and starts its own.  TERM (or INT) stops every service, all at once, each
with its stop schedule, then ends the keeper.
"""

import heapq
import itertools
import os
import select
import signal
import socket
import sys
import time

from . import process
from . import states
from . import wire
from .kept import LAUNCH_CODES, Kept
from .program import LaunchError
from .servicefiles import KeeperFiles, ServiceFiles, StateError

PR_SET_NAME, PR_SET_CHILD_SUBREAPER = 15, 36
IDLE_END = 30.0                 # seconds a new keeper waits for its first request
NOTES_LIMIT = 1 << 20           # .keeper.log: the keeper's own notes, bounded
READ, WRITE = select.EPOLLIN, select.EPOLLOUT


def prctl(option, value):
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def code_identity():
    """Which code this is: the time keeper.py was written.  A command of a
    newer version (a buildout run upgraded the package) asks the keeper
    to hand over to one of its own."""
    return os.stat(__file__).st_mtime


class Busy(Exception):
    """Another keeper holds the pid dir."""


class Timer:
    __slots__ = ('when', 'action', 'cancelled')

    def __init__(self, when, action):
        self.when, self.action, self.cancelled = when, action, False

    def cancel(self):
        self.cancelled = True


class Connection:
    """A command's request, read until it shuts its side, then its answer.
    ``refused``: the uid of a peer that may not use the keeper."""
    __slots__ = ('sock', 'data', 'out', 'refused')

    def __init__(self, sock, refused=None):
        self.sock, self.data, self.out, self.refused = sock, b'', None, refused


class Keeper:

    def __init__(self, pid_dir):
        self.pid_dir = pid_dir
        self.files = KeeperFiles(pid_dir)
        self.me = process.identity(os.getpid())
        self.code = code_identity()
        self.services = {}              # name -> Kept
        self.epoll = select.epoll()
        self.handlers = {}              # fd -> callable(fd)
        self.timers = []                # heap of (when, seq, Timer)
        self.seq = itertools.count()
        self.children = {}              # pid -> callable(exit code): our children
        self.connections = {}           # fd -> Connection
        self.done = False
        self.ending = None              # 'stop' (TERM) or 'handover'
        self.owner = None

    # -- the loop's services to each kept service -----------------------------------

    def watch(self, fd, callback):
        self.handlers[fd] = callback
        self.epoll.register(fd, READ)

    def unwatch(self, fd):
        if self.handlers.pop(fd, None) is not None:
            self.epoll.unregister(fd)

    def later(self, seconds, action):
        timer = Timer(time.monotonic() + max(0.0, seconds), action)
        heapq.heappush(self.timers, (timer.when, next(self.seq), timer))
        return timer

    def child(self, pid, callback):
        """``callback(exit code)`` when our child ``pid`` has ended."""
        self.children[pid] = callback

    def forget_child(self, pid):
        self.children.pop(pid, None)

    def note(self, text):
        """What concerns no one service, in .keeper.log in the pid dir (at
        most NOTES_LIMIT bytes: a keeper that fails again and again must
        not fill the disk)."""
        line = '%s keeper[%d]: %s\n' % (time.strftime('%Y-%m-%d %H:%M:%S'), self.me.pid, text)
        try:
            fd = os.open(self.files.NOTES, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                         | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600,
                         dir_fd=self.dir_fd)
        except OSError:
            return
        try:
            if os.fstat(fd).st_size < NOTES_LIMIT:
                os.write(fd, line.encode(errors='replace'))
        except OSError:
            pass
        finally:
            os.close(fd)

    # -- setting up ------------------------------------------------------------------

    def setup(self):
        """The lock, the signals, the socket; then every service a keeper
        before kept.  Busy if another keeper holds the pid dir."""
        import fcntl
        prctl(PR_SET_NAME, b'keeper')
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        os.umask(0o022)
        os.chdir('/')
        self.dir_fd = self.files.open_dir(create=True)
        self.owner = os.fstat(self.dir_fd).st_uid
        self.lock = self.files.open_lock(self.dir_fd)
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy()
        self.wake, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, lambda *_: None)
        for sig in (signal.SIGPIPE, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, signal.SIG_IGN)
        self.watch(self.wake, self.on_signals)
        self.listen()
        for name in self.files.kept_names(self.dir_fd):
            self.take_over(name)
        # Were it to keep nothing and hear from nobody (its command was
        # killed), this wakes it to end; the first request cancels it.
        self.first_wait = self.later(IDLE_END, lambda: None)

    def listen(self):
        """``.keeper.sock``: ours alone to bind while we hold the lock, so
        one left by a keeper that died is removed first."""
        try:
            os.unlink(self.files.SOCKET, dir_fd=self.dir_fd)
        except FileNotFoundError:
            pass
        self.listener = socket.socket(socket.AF_UNIX,
                                      socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)
        try:
            self.listener.bind(wire.address(self.dir_fd, self.files.SOCKET))
        finally:
            os.umask(old)
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.watch(self.listener.fileno(), self.on_connect)

    def take_over(self, name):
        files = ServiceFiles(self.pid_dir, name)
        try:
            kept = files.read_kept()
        except StateError:
            kept = None
        if kept is None or kept['settings'].get('name') != name:
            return
        try:
            service = Kept(self, kept['settings'], kept.get('environ') or {})
            self.services[name] = service
            service.take_over()
        except (LaunchError, StateError, OSError) as e:
            self.services.pop(name, None)
            try:
                files.write_keeper(self.me, states.Record({
                    'state': states.FATAL, 'want': states.UP,
                    'message': '%s: a new keeper could not take it over: %s' % (name, e)}))
            except StateError:
                pass

    # -- the loop ---------------------------------------------------------------------

    def run(self):
        while not self.done:
            timeout = -1
            while self.timers and self.timers[0][2].cancelled:
                heapq.heappop(self.timers)
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.monotonic())
            try:
                events = self.epoll.poll(timeout)
            except InterruptedError:
                events = []
            for fd, _ in events:
                handler = self.handlers.get(fd)
                if handler is not None:
                    self.guarded(handler, fd)
            now = time.monotonic()
            while self.timers and (self.timers[0][2].cancelled or self.timers[0][0] <= now):
                _, _, timer = heapq.heappop(self.timers)
                if not timer.cancelled:
                    timer.cancelled = True
                    self.guarded(timer.action)
            self.end_if_idle()

    def guarded(self, action, *args):
        """A bug in one step must not end the keeper (and leave every
        service unkept): it is written down, and the loop goes on."""
        try:
            action(*args)
        except Exception:
            import traceback
            self.note('a step failed (a bug; please report it): '
                      + traceback.format_exc().replace('\n', ' | '))

    def end_if_idle(self):
        """Ends once it keeps nothing (and answers nobody)."""
        if self.connections or any(not s.at_rest() for s in self.services.values()):
            return
        if self.ending is None:
            # Whoever connected meanwhile is served first.
            self.on_connect(self.listener.fileno())
            if self.connections:
                return
        self.finish()

    def finish(self):
        self.unwatch(self.listener.fileno())
        self.listener.close()
        try:
            os.unlink(self.files.SOCKET, dir_fd=self.dir_fd)
        except OSError:
            pass
        for service in self.services.values():
            service.close()
        self.done = True

    def on_signals(self, fd):
        try:
            data = os.read(self.wake, 256)
        except (BlockingIOError, InterruptedError):
            return
        for number in data:
            if number == signal.SIGCHLD:
                self.reap()
            elif number in (signal.SIGTERM, signal.SIGINT):
                self.stop_all()

    def reap(self):
        """Collect every child that ended: a program (its status to its
        service), a probe, or what the subreaper inherited (dropped)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            callback = self.children.pop(pid, None)
            if callback is not None:
                callback(os.waitstatus_to_exitcode(status))

    def stop_all(self):
        """TERM: every program stopped with its schedule, all at once; then
        the keeper ends.  Not on purpose: the check starts them again."""
        self.ending = 'stop'
        for service in list(self.services.values()):
            service.request_stop(lambda *answer: None)

    # -- requests ---------------------------------------------------------------------

    def on_connect(self, fd):
        self.first_wait.cancel()
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            _, uid, _ = wire.peer(sock)
            sock.setblocking(False)
            connection = Connection(sock, None if wire.may_use(uid, self.owner) else uid)
            self.connections[sock.fileno()] = connection
            self.watch(sock.fileno(), self.on_request_data)

    def on_request_data(self, fd):
        connection = self.connections[fd]
        try:
            chunk = connection.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = None
        if chunk:
            connection.data += chunk
            if len(connection.data) <= wire.LIMIT:
                return
        self.unwatch(fd)
        if chunk is None or len(connection.data) > wire.LIMIT:
            self.close(connection)
            return
        if connection.refused is not None:      # its request goes unread
            self.send(connection, {'code': 4, 'message': 'refused: uid %d may not use the'
                                   ' keeper of %s (only root and its owner)'
                                   % (connection.refused, self.pid_dir)})
            return
        try:
            request = wire.decode(connection.data)
        except wire.WireError as e:
            self.send(connection, {'code': 2, 'message': 'bad request: %s' % e})
            return
        try:
            self.dispatch(request, lambda answer: self.send(connection, answer))
        except Exception as e:
            if connection.sock.fileno() in self.connections:
                self.send(connection, {'code': 1, 'message': 'the keeper failed: %s: %s' % (
                    e.__class__.__name__, e)})
            raise

    def dispatch(self, request, send):
        """Carry out one request; ``send`` its answer once it is done."""
        command = request.get('command')
        if request.get('code', 0) > self.code and command != 'handover':
            send({'outdated': True, 'code': 1, 'message': 'the keeper (pid %d) runs an older'
                  ' version; it hands over to a new one' % self.me.pid})
            return
        if command == 'handover':
            send({'code': 0, 'message': 'keeper %d hands over' % self.me.pid})
            self.hand_over()
            return
        if command == 'status':
            send({'code': 0, 'keeper': self.me.pid, 'services': {
                name: {'state': s.state, 'want': s.want,
                       'pid': s.child.pid if s.child else None}
                for name, s in self.services.items()}})
            return
        if self.ending is not None:
            send({'code': 1, 'message': 'the keeper (pid %d) is ending; try again'
                  % self.me.pid, 'ending': True})
            return
        settings = request.get('service')
        if not isinstance(settings, dict) or command not in REQUESTS:
            send({'code': 2, 'message': 'bad request: %r' % command})
            return

        def reply(code, message, pid=None):
            ends = self.ending is not None or all(
                s.state in states.AT_REST for s in self.services.values())
            send({'code': code, 'message': message, 'pid': pid, 'keeper': self.me.pid,
                  'keeper_ends': ends})
        try:
            service = self.service_for(settings, request.get('environ') or {},
                                       command in ('start', 'restart'))
        except (LaunchError, StateError, OSError) as e:
            reply(LAUNCH_CODES.get(getattr(e, 'kind', None), 1),
                  '%s not started: %s' % (settings.get('name'), e))
            return
        if service is None:
            reply(0 if command == 'stop' else 7, '%s is not running' % settings['name'])
            return
        environ = request.get('environ')
        if command == 'start':
            service.request_start(reply, settings, environ)
        elif command == 'restart':
            service.request_restart(reply, settings, environ)
        elif command == 'stop':
            service.request_stop(reply)
        elif command == 'reload':
            service.request_reload(reply)
        elif command == 'reopen-logs':
            service.request_reopen(reply)

    def service_for(self, settings, environ, create):
        """The Kept of ``settings``' service; a new one (taking over its
        program if one runs) for a start, else None if not kept here."""
        name = settings['name']
        service = self.services.get(name)
        if service is None:
            files = ServiceFiles(self.pid_dir, name)
            record = files.read_program()
            running = record.ident is not None and process.is_running(record.ident)
            if not create and not running:
                return None
            service = Kept(self, settings, environ)
            self.services[name] = service
            if running:
                service.take_over()
        return service

    def send(self, connection, answer):
        connection.out = wire.encode(answer)
        self.flush(connection)

    def flush(self, connection, fd=None):
        fileno = connection.sock.fileno()
        try:
            done = connection.sock.send(connection.out)
            connection.out = connection.out[done:]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            connection.out = b''
        if connection.out:
            if fileno not in self.handlers:
                self.handlers[fileno] = lambda fd: self.flush(connection)
                self.epoll.register(fileno, WRITE)
            return
        self.close(connection)

    def close(self, connection):
        fileno = connection.sock.fileno()
        self.unwatch(fileno)
        self.connections.pop(fileno, None)
        connection.sock.close()

    def hand_over(self):
        """A newer version asks: end without stopping anything; the next
        keeper takes every service over (their output waits in the pipes)."""
        self.ending = 'handover'
        for service in self.services.values():
            service.save()
        self.finish()


REQUESTS = ('start', 'restart', 'stop', 'reload', 'reopen-logs')


def main(argv=None):
    """``python -S -m buildout_script.keeper PID_DIR``: says 'listening'
    (or why not) on stdout, then keeps the pid dir's services."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not argv[0].startswith('/'):
        print('usage: python -m buildout_script.keeper PID_DIR (absolute); ctl starts it',
              file=sys.stderr)
        return 2
    os.environ.pop('NOTIFY_SOCKET', None)       # ours to give, not an outer manager's
    keeper = Keeper(argv[0])
    try:
        keeper.setup()
    except Busy:
        print('busy', flush=True)
        return 1
    except (StateError, OSError) as e:
        print('failed %s' % e, flush=True)
        return 1
    print('listening %d' % keeper.me.pid, flush=True)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    trim_memory()
    keeper.run()
    return 0


def trim_memory():
    """Give back to the system what starting up left free in the heap
    (glibc keeps it otherwise): the keeper then idles in less memory."""
    import ctypes
    import gc
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


if __name__ == '__main__':
    sys.exit(main())
