"""The keeper: one small resident process per supervised service.

    ctl start --> keeper (child subreaper; log pipes; NOTIFY_SOCKET)
                    `--> program (restarted at once when it exits)

``ctl`` starts it as ``python -m buildout_script.keeper NAME PID_DIR`` (so
``ps`` says what it is and which service it keeps) and hands it the
settings and what to do ('start' or 'adopt') on stdin; it answers on
stdout once the program is ready (or not), then lives on.  Both in
``marshal`` form: the keeper stays resident, and json (with the ``re`` it
loads) would cost it a megabyte of memory for nothing.

It waits without polling: the program's pidfd, the log pipes, the notify
socket and a signal wakeup fd, in one selector; nothing wakes it while all
is well.  It writes the same state files as ``ctl`` (NAME.pid, NAME.identity)
and its own record (NAME.keeper), and applies the restart rules of the check
(``restarts``) to the same history (NAME.restarts).

Signals: TERM (or INT) stops the program with the stop schedule, then the
keeper; USR1 reopens the logs; USR2 restarts the program (a person's
restart: not counted).  Killed with -9, it leaves the program running and
writing into its pipe; the next command starts a keeper that adopts it.
"""

import itertools
import marshal
import os
import selectors
import signal
import sys
import time

from . import account
from . import fingerprint
from . import launch
from . import logfiles
from . import logpipes
from . import process
from . import program
from . import readiness
from . import restarts
from . import terminate
from .state import ServiceFiles

PR_SET_NAME, PR_SET_CHILD_SUBREAPER = 15, 36
READ_SIZE = 65536


def prctl(option, value):
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


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


class Keeper:

    def __init__(self, settings, report):
        self.settings = settings
        self.given = dict(settings)     # as the script has them (notify may change ours)
        self.recorded = None            # the settings record last written
        self.name = settings['name']
        self.files = ServiceFiles(settings['pid-dir'], self.name)
        self.me = process.identity(os.getpid())
        self.account = account.account_of(settings['user'])
        self.selector = selectors.DefaultSelector()
        self.report = report            # the pipe ctl waits on, until answered
        self.proc = None                # our child's Popen (None when adopted)
        self.child = None               # the program's Identity
        self.pidfd = None
        self.state = 'starting'
        self.generation = 0             # programs launched (or adopted)
        self.restarts = 0               # unexpected exits restarted
        self.last_exit = None
        self.status_text = None
        self.ready_note = None          # notify: 'ready' / 'reloading'
        self.reloads = 0
        self.reopens = 0                # reopen-logs requests taken
        self.timer = None               # (monotonic time, action)
        self.readiness = None           # of a start: readiness.Readiness
        self.watchdog_due = None
        self.pauses = None
        self.stop_on_purpose = False
        self.done = False
        self.code = 0
        self.logs = {}                  # FIFO descriptor -> logfiles.Log
        self.pipes = {}                 # log path -> FIFO path
        self.notify_path = self.notify_sock = None

    # -- setting up -------------------------------------------------------------

    def setup(self):
        """Everything before the program: lock, signals, pipes, logs."""
        prctl(PR_SET_NAME, ('keep:' + self.name)[:15].encode())
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        import fcntl
        self.files.prepare()
        self.lock = self.files.open_keeper_lock()
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise program.LaunchError('not-configured', 'another keeper already keeps it')
        self.wake, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1,
                    signal.SIGUSR2, signal.SIGCHLD):
            signal.signal(sig, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self.selector.register(self.wake, selectors.EVENT_READ, self.on_signals)
        max_bytes, backups = self.settings['log-max-bytes'], self.settings['log-backups']
        self.pipes = logpipes.paths(self.settings)
        for path, fifo in self.pipes.items():
            fd = logpipes.open_pipe(fifo, self.account)
            self.logs[fd] = logfiles.Log(path, max_bytes, backups, self.account)
            self.selector.register(fd, selectors.EVENT_READ, self.on_output)
        self.outputs = ([logpipes.open_pipe(fifo, self.account, reader=False)
                         for fifo in self.pipes.values()] + [None])[:2]
        if self.settings['umask'] is not None:     # the logs it makes: as the program would
            os.umask(self.settings['umask'])
        if self.settings['ready'] == 'notify' or self.settings['watchdog-timeout']:
            from . import notify
            self.notify_path = notify.socket_path(self.settings)
            self.notify_sock = notify.bind(self.notify_path)
            if self.account is not None and not self.notify_path.startswith('@'):
                os.chown(self.notify_path, self.account.pw_uid, self.account.pw_gid)
            self.selector.register(self.notify_sock, selectors.EVENT_READ, self.on_notify)

    def note(self, text):
        """A line of the keeper's own, in the (error) log."""
        log = list(self.logs.values())[-1]
        log.note('%s keeper[%d]: %s' % (time.strftime('%Y-%m-%d %H:%M:%S'),
                                         self.me.pid, text))

    # -- the program ----------------------------------------------------------------

    def launch(self):
        """Start the program (launch.start: posix_spawn where it can)."""
        # A new program starts from the settings, not from what the last one
        # said: its STATUS= text and a WATCHDOG_USEC= it chose end with it.
        self.status_text = None
        self.settings['watchdog-timeout'] = self.given['watchdog-timeout']
        extra = {}
        if self.notify_path:
            from . import notify
            extra = notify.environment(self.notify_path, self.settings['watchdog-timeout'])
        steps = launch.plan(self.settings, extra_env=extra,
                            watchdog_pid=bool(self.settings['watchdog-timeout']))
        self.proc = launch.start(steps, self.outputs)
        self.follow(self.proc.pid, process.identity(self.proc.pid))
        self.generation += 1
        self.ready_note = None
        self.files.record_program(self.child, group=True)
        self.record_settings()

    def record_settings(self):
        """What the program was started with (NAME.settings, as ctl start
        writes it in the cron mode), so status can tell a buildout run changed it."""
        text = fingerprint.record_text(self.given)
        if text != self.recorded:
            self.files.write_settings(text)
            self.recorded = text

    def follow(self, pid, ident):
        if self.pidfd is not None:
            self.selector.unregister(self.pidfd)
            os.close(self.pidfd)
        self.pidfd = os.pidfd_open(pid)
        self.child = ident
        self.selector.register(self.pidfd, selectors.EVENT_READ, self.on_exit)
        if self.settings['watchdog-timeout']:
            self.watchdog_due = time.monotonic() + self.settings['watchdog-timeout']

    def adopt(self):
        """Take over a program a dead keeper left running: its pidfd pins
        the very process, checked against the identity on record."""
        record = self.files.read_program()
        if record.ident is None or not process.is_running(record.ident):
            raise program.LaunchError('not-configured', 'no running program to adopt')
        pidfd_pid = record.pid
        self.follow(pidfd_pid, record.ident)
        if not process.is_running(record.ident):       # gone between look and pidfd
            raise program.LaunchError('not-configured', 'the program exited meanwhile')
        self.generation += 1
        self.proc = None
        self.note('adopted pid %d, left running by a keeper that died; its exit status'
                  ' will be unknown (it is not our child)' % record.pid)

    def begin_start(self):
        """Launch and wait (in the loop) until ready, or fail."""
        self.offsets = {path: logfiles.size(path) for path in self.pipes}
        self.launch()
        self.state = 'starting'
        self.readiness = readiness.Readiness(self.settings['ready'],
                                             self.settings['start-timeout'])
        self.pauses = program.pauses()
        self.set_timer(0, self.poll_ready)
        self.save()

    def poll_ready(self):
        if self.state != 'starting':
            return
        verdict, detail = self.readiness.judge(said_ready=self.ready_note == 'ready')
        if verdict == readiness.READY:
            self.state = 'running'
            self.answer(0, '%s started (pid %d, kept by pid %d)'
                        % (self.name, self.child.pid, self.me.pid))
            self.save()
        elif verdict == readiness.LATE:
            self.fail(detail)
        else:
            self.set_timer(next(self.pauses), self.poll_ready)

    def fail(self, detail):
        """A start that did not come up: stop what it started, say why
        (with the last lines of its log), and end the keeper."""
        stopped = self.terminate()
        self.drain()
        if stopped:
            self.files.forget_program()
        tail = [line for path in self.offsets
                for line in logfiles.tail(path, self.offsets[path])]
        message = '%s failed to start: %s' % (self.name, detail)
        if tail:
            message += '; last lines of its log (%s):\n' % list(self.offsets)[0] + '\n'.join(
                '    ' + line for line in tail)
        self.state = 'failed'
        self.answer(1, message)
        self.save(message=message)
        self.finish(1)

    def answer(self, code, message):
        if self.report is not None:
            pid = self.child.pid if self.child else None
            try:
                self.report.write(marshal.dumps({'code': code, 'message': message,
                                                 'pid': pid, 'keeper': self.me.pid}))
                self.report.close()
            except OSError:
                pass
            self.report = None
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.close(devnull)
            trim_memory()

    # -- events -------------------------------------------------------------------------

    def run(self):
        while not self.done:
            timeout = None
            if self.timer is not None:
                timeout = max(0.0, self.timer[0] - time.monotonic())
            if self.watchdog_due is not None and self.state == 'running':
                left = max(0.0, self.watchdog_due - time.monotonic())
                timeout = left if timeout is None else min(timeout, left)
            for key, _ in self.selector.select(timeout):
                if not self.done:
                    key.data()
            now = time.monotonic()
            if self.timer is not None and now >= self.timer[0]:
                action, self.timer = self.timer[1], None
                action()
            if (self.watchdog_due is not None and self.state == 'running'
                    and now >= self.watchdog_due and not self.done):
                self.watchdog_missed()

    def set_timer(self, seconds, action):
        self.timer = (time.monotonic() + seconds, action)

    def on_signals(self):
        try:
            data = os.read(self.wake, 256)
        except (BlockingIOError, InterruptedError):
            return
        for number in data:
            if number == signal.SIGCHLD:
                self.reap()
            elif number in (signal.SIGTERM, signal.SIGINT):
                self.begin_stop()
            elif number == signal.SIGUSR1:
                for log in self.logs.values():
                    log.reopen()
                self.reopens += 1
                self.save()
            elif number == signal.SIGUSR2:
                self.begin_restart()

    def on_output(self, fd=None):
        self.drain(chunks=16)               # then let the others speak

    def drain(self, chunks=None):
        """Write what waits in the log pipes: all of it, or ``chunks`` reads
        of each at most."""
        for fd, log in self.logs.items():
            for _ in itertools.repeat(None) if chunks is None else range(chunks):
                try:
                    data = os.read(fd, READ_SIZE)
                except (BlockingIOError, InterruptedError):
                    break
                if not data:
                    break
                log.write(data)

    def reap(self):
        """Collect every child that ended: the program (its status) and
        what the subreaper inherited (dropped)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.proc is not None and pid == self.proc.pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
            elif self.child is not None and pid == self.child.pid:
                # A MAINPID= it followed, that became ours when its parent
                # exited (the subreaper): its exit status is ours to tell.
                self.proc = launch.Child(pid)
                self.proc.returncode = os.waitstatus_to_exitcode(status)

    def on_exit(self):
        """The program's pidfd: it has ended."""
        if self.notify_sock is not None:
            self.on_notify()            # what it said before it ended comes first
        self.timer = None               # a kill or a probe meant for it
        self.reap()
        self.selector.unregister(self.pidfd)
        os.close(self.pidfd)
        self.pidfd = None
        if self.proc is not None and self.proc.returncode is None:
            try:
                _, status = os.waitpid(self.proc.pid, 0)
                self.proc.returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                pass
        if self.proc is not None and self.proc.returncode is not None:
            self.last_exit = program.describe_exit(self.proc.returncode)
        else:
            self.last_exit = 'exited (status unknown: adopted, not our child)'
        if self.state == 'stopping':
            self.finish_stop()
        elif self.state == 'restarting':
            self.stop_leftovers(self.child)
            self.begin_start()
        elif self.state == 'starting':
            self.fail(self.last_exit)
        elif self.state == 'running':
            self.exited_unexpectedly()

    def exited_unexpectedly(self):
        now = time.time()
        decision, history = restarts.next_attempt(self.files, self.settings, now)
        if decision.verdict == restarts.NOW:
            dead = self.child
            # What it left (a worker in a session of its own still holding
            # the port, say) goes first: else it would run beside the new copy.
            self.stop_leftovers(dead)
            try:
                self.launch()
            except program.LaunchError as e:
                self.give_up(history, now, 'cannot restart it: %s' % e)
                return
            self.restarts += 1
            self.note('pid %d %s; restarted it (pid %d, restart %d of %d within %gs)' % (
                dead.pid, self.last_exit, self.child.pid, len(decision.recent),
                self.settings['restart-limit'], self.settings['restart-window']))
            self.save()
        elif decision.verdict == restarts.WAIT:
            self.state = 'backoff'
            self.note('pid %d %s; next restart in %.1fs' % (self.child.pid, self.last_exit,
                                                            decision.wait))
            self.set_timer(decision.wait, self.restart_after_backoff)
            self.save(next_restart='%.0f' % (now + decision.wait))
            self.stop_leftovers(self.child)
        else:
            self.give_up(history, now, '%s' % self.last_exit)

    def restart_after_backoff(self):
        if self.state == 'backoff':
            self.state = 'running'
            self.exited_unexpectedly()

    def give_up(self, history, now, why):
        if not history.get('gave_up'):
            restarts.give_up(history, now)
            self.files.write_restarts(history)
        message = ('%s %s; gave up after %d restarts in %gs; run ctl start once it is fixed'
                   % (self.name, why, self.settings['restart-limit'],
                      self.settings['restart-window']))
        self.note(message)
        self.terminate()
        self.files.forget_program()
        self.state = 'gave-up'
        self.save(message=message)
        self.finish(1)

    def watchdog_missed(self):
        self.note('pid %d sent no WATCHDOG=1 for %gs; killing it with SIGABRT' % (
            self.child.pid, self.settings['watchdog-timeout']))
        self.watchdog_due = None
        process.send_group(self.child, signal.SIGABRT) or process.send(
            self.child, signal.SIGABRT)
        self.set_timer(self.settings['stop-timeout'], self.kill_now)

    def on_notify(self):
        from . import notify
        for pid, uid, fields in notify.receive(self.notify_sock):
            if self.child is None or pid != self.child.pid:
                continue                # NotifyAccess=main, as systemd's default
            changed = False
            if fields.get('MAINPID', '').isdigit():
                # First: a READY=1 in the same datagram answers start with
                # the pid it named, and the pid file already holds it.
                self.follow_main(int(fields['MAINPID']))
                changed = True
            if 'STATUS' in fields:
                self.status_text = fields['STATUS']
                changed = True
            if fields.get('RELOADING') == '1':
                self.ready_note = 'reloading'
                changed = True
            if fields.get('READY') == '1':
                if self.ready_note == 'reloading':
                    self.reloads += 1
                self.ready_note = 'ready'
                changed = True
                if self.state == 'starting':
                    self.poll_ready()   # now: a STOPPING=1 behind it must find it running
            if fields.get('STOPPING') == '1' and self.state == 'running':
                self.state = 'stopping'         # its exit is expected: not restarted
                self.stop_on_purpose = False
                changed = True
            if 'WATCHDOG_USEC' in fields and fields['WATCHDOG_USEC'].isdigit():
                self.settings['watchdog-timeout'] = int(fields['WATCHDOG_USEC']) / 1e6
            if fields.get('WATCHDOG') == '1' and self.settings['watchdog-timeout']:
                self.watchdog_due = time.monotonic() + self.settings['watchdog-timeout']
            if 'EXTEND_TIMEOUT_USEC' in fields and self.state == 'starting':
                if fields['EXTEND_TIMEOUT_USEC'].isdigit():
                    self.readiness.extend(int(fields['EXTEND_TIMEOUT_USEC']) / 1e6)
            if changed:
                self.save()

    def follow_main(self, pid):
        """MAINPID=: follow another process, if it is one of ours (our
        child, or reparented to us as the subreaper)."""
        facts = process.facts(pid)
        if facts is None or pid == self.child.pid or facts.ppid not in (
                self.me.pid, self.child.pid):
            return
        # Our child (its exit status will be ours to reap), or not.
        self.proc = launch.Child(pid) if facts.ppid == self.me.pid else None
        self.follow(pid, process.identity(pid))
        self.files.record_program(self.child, group=facts.pgid == pid)
        self.note('following MAINPID=%d' % pid)

    # -- stopping ---------------------------------------------------------------------

    def begin_stop(self):
        if self.state in ('stopping', 'failed', 'gave-up'):
            return
        if self.report is not None:         # stopped while starting
            self.answer(1, '%s: stopped while starting' % self.name)
        self.stop_on_purpose = True
        self.state = 'stopping'
        self.save()
        if self.pidfd is None:              # in backoff: nothing runs
            self.finish_stop()
            return
        self.signal_program(process.signal_number(self.settings['stop-signal']))
        self.set_timer(self.settings['stop-timeout'], self.kill_now)

    def begin_restart(self):
        """A person's restart: stop with the schedule, start, wait for ready."""
        if self.state == 'backoff' or self.pidfd is None:
            self.begin_start()
            return
        if self.state in ('stopping', 'restarting'):
            return
        self.state = 'restarting'
        self.save()
        self.signal_program(process.signal_number(self.settings['stop-signal']))
        self.set_timer(self.settings['stop-timeout'], self.kill_now)

    def signal_program(self, sig):
        if not process.send_group(self.child, sig):
            process.send(self.child, sig)

    def kill_now(self):
        if self.pidfd is not None:
            self.note('pid %d still runs after %gs; sending SIGKILL' % (
                self.child.pid, self.settings['stop-timeout']))
            self.signal_program(signal.SIGKILL)

    def finish_stop(self):
        self.timer = None
        if self.stop_on_purpose:
            self.terminate()
            self.drain()
            self.files.forget_program()
            self.finish(0)
        else:                               # STOPPING=1, then it exited
            self.note('pid %d %s after STOPPING=1; it stopped itself, not restarted' % (
                self.child.pid, self.last_exit))
            self.terminate()
            self.files.forget_program()
            self.files.mark_stopped()
            self.finish(0)

    def terminate(self):
        """Stop what is left of the program's family, and what it left to
        us as the subreaper (True when nothing is left)."""
        if self.child is None:
            return True
        mark = program.mark(self.settings)
        done = not terminate.terminate(self.child, True, self.settings['stop-signal'],
                                       self.settings['stop-timeout'], mark).alive
        for f in process.table():
            if f.ppid == self.me.pid and f.state != 'Z' and process.carries(f.pid, mark):
                orphan = process.identity(f.pid)
                if orphan is not None:
                    done = not terminate.terminate(
                        orphan, False, self.settings['stop-signal'],
                        self.settings['stop-timeout'], mark).alive and done
        self.reap()
        return done

    def stop_leftovers(self, dead):
        """Before the next start: what a dead program left -- its group,
        and every process of the service's user carrying the service's
        mark, wherever it moved (a spawned copy's mark differs: spared;
        the keeper itself is spared) -- is stopped with the stop
        schedule.  The loop waits meanwhile (at most stop-timeout, then
        KILL and its wait), as systemd's KillMode=control-group does
        before Restart=; when nothing can be left, nothing is scanned, so
        the restart is not delayed.  True when nothing is left."""
        if dead is None or not self.may_have_left(dead):
            return True
        done = not terminate.terminate(dead, True, self.settings['stop-signal'],
                                       self.settings['stop-timeout'], program.mark(self.settings),
                                       sweep_uid=account.service_uid(self.settings)).alive
        self.reap()
        if not done:
            self.note('what pid %d left still runs after %s, %gs and KILL' % (
                dead.pid, self.settings['stop-signal'], self.settings['stop-timeout']))
        return done

    def may_have_left(self, dead):
        """Could the dead program have left anything?  The keeper is the
        subreaper, so whatever its child forked, wherever it moved, is the
        keeper's descendant or in the dead's group: with the group empty
        and no child left to the keeper (all reaped), nothing is.  Two
        cheap looks instead of a scan of every process, which would delay
        each restart by milliseconds.  An adopted program's descendants
        were never ours to inherit: always scanned."""
        if self.proc is None or self.proc.pid != dead.pid:
            return True
        try:
            os.killpg(dead.pid, 0)
            return True                 # someone is in its group
        except ProcessLookupError:
            pass
        except OSError:
            return True
        try:
            for tid in os.listdir('/proc/self/task'):
                with open('/proc/self/task/%s/children' % tid, 'rb') as f:
                    if f.read().split():
                        return True
        except OSError:
            return True                 # no such file: not Linux, or an old kernel
        return False

    def finish(self, code):
        self.drain()
        self.done = True
        self.code = code
        if self.state not in ('failed', 'gave-up'):
            self.files.clear_keeper()

    # -- the record -----------------------------------------------------------------

    def save(self, **extra):
        fields = {'state': self.state, 'pid': self.child.pid if self.child else None,
                  'generation': self.generation, 'restarts': self.restarts,
                  'last-exit': self.last_exit, 'status': self.status_text,
                  'ready': self.ready_note, 'reloads': self.reloads,
                  'reopens': self.reopens,
                  'adopted': 'yes' if self.proc is None and self.child else None}
        fields.update(extra)
        self.files.write_keeper(self.me, fields)


def main(argv=None):
    """``python -m buildout_script.keeper NAME PID_DIR`` with the request on stdin."""
    os.environ.pop('NOTIFY_SOCKET', None)       # ours to give, not an outer manager's
    report = os.fdopen(os.dup(1), 'wb')
    try:
        request = marshal.loads(sys.stdin.buffer.read())
        os.environ.pop('PYTHONPATH', None)
        if request.get('pythonpath') is not None:   # the program's, not ours
            os.environ['PYTHONPATH'] = request['pythonpath']
    except (ValueError, EOFError, TypeError):
        print('%s: expects its request on stdin (ctl starts it)' % sys.argv[0],
              file=sys.stderr)
        return 2
    keeper = Keeper(request['settings'], report)
    try:
        keeper.setup()
        if request['mode'] == 'adopt':
            keeper.adopt()
            keeper.state = 'running'
            keeper.save()
            keeper.answer(0, '%s is running (pid %d); its keeper (pid %d) adopted it'
                          % (keeper.name, keeper.child.pid, keeper.me.pid))
        else:
            keeper.begin_start()
        keeper.run()
    except program.LaunchError as e:
        keeper.answer({'not-installed': 5, 'not-configured': 6, 'permission': 4}[e.kind],
                      '%s not started: %s' % (keeper.name, e))
        return 1
    except Exception as e:
        import traceback
        from . import notify
        if isinstance(e, notify.ListenError) and keeper.child is None:  # one line says it
            keeper.answer(1, '%s not started: %s' % (keeper.name, e))
            return 1
        keeper.answer(1, '%s: the keeper failed: %s: %s' % (keeper.name,
                                                           e.__class__.__name__, e))
        if keeper.child is not None and keeper.terminate():
            keeper.files.forget_program()            # nothing may run on untracked
        if keeper.logs:
            keeper.note('failed: ' + traceback.format_exc().replace('\n', ' | '))
            keeper.drain()
        return 1
    return keeper.code


if __name__ == '__main__':
    sys.exit(main())
