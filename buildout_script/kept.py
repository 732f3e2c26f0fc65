"""One service as its keeper keeps it (keeper.py is the process that keeps
them all): its states (states.py) and want, its program, its log pipes and
logs, its notify socket, its readiness, its stop schedule, its restarts.

Nothing here blocks: a stop is a signal, a timer for the KILL and looks at
the family on a timer until it has ended; a readiness probe runs in a
child of its own; the program's end comes as an event.  Whoever waits for
a request (a start waits until ready) is answered through a callback when
it is done, so one service never delays another.

The family of a program the keeper started is found from the top down
(process.descendants) and among the keeper's own children, where whatever
it left in sessions of its own lands (the keeper is the child subreaper):
a cost that grows with the family, not with the machine.  Only an adopted
program (left by a keeper that is gone) is looked for across the machine,
by its mark, as the cron mode does.
"""

import os
import time

from . import account
from . import fingerprint
from . import launch
from . import logfiles
from . import logpipes
from . import process
from . import readiness
from . import restarts
from . import states
from .program import LAUNCH_VARIABLE, LaunchError, describe_exit, format_bytes, mark, pauses
from .servicefiles import ServiceFiles, StateError
from .stopping import Stopping

LAUNCH_CODES = {'not-installed': 5, 'not-configured': 6, 'permission': 4}


def without_ours(environ):
    """The environment of the command a start was asked from, but for what
    is ours to give the program (the notify socket, the held sockets)."""
    return {key: value for key, value in (environ or {}).items() if key not in (
        'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_PID', 'LISTEN_FDS',
        'LISTEN_FDNAMES', LAUNCH_VARIABLE)}


class Kept:
    """A service the keeper keeps.  ``keeper`` lends the loop: watch(fd,
    callback), later(seconds, callback), child(pid, callback), note()."""

    def __init__(self, keeper, settings, environ):
        self.keeper = keeper
        self.name = settings['name']
        self.files = ServiceFiles(settings['pid-dir'], self.name)
        self.given = settings               # as the script has them
        self.settings = dict(settings)      # sd_notify may change the watchdog's
        self.environ = without_ours(environ)
        self.account = account.account_of(settings['user'])
        self.want = states.DOWN
        self.state = states.STOPPED
        self.child = None                   # the program's Identity
        self.adopted = False                # left running by a keeper that is gone
        self.pidfd = None                   # watched while not ours
        self.generation = self.restarts = self.reloads = self.reopens = 0
        self.last_exit = self.status_text = self.ready_note = self.message = None
        self.next_restart = None
        self.said_stopping = False          # STOPPING=1: its end is not a crash
        self.restart_note = None            # said once the restart has launched
        self.by_request = False             # this start was asked for, not a restart
        self.logs = {}                      # FIFO read end -> logfiles.Log
        self.outputs = (None, None)         # the program's side of the pipes
        self.notify_sock = self.notify_path = None
        self.readiness = self.poll_timer = self.backoff_timer = None
        self.watchdog_timer = self.reload_timer = None
        self.memory_timer = None            # memory-max: the next look at its memory
        self.memory_over = None             # (pid, since when) it has been over
        self.why_stopped = None             # the keeper's reason to end this program
        self.probe = None                   # (pid, pipe) of a readiness probe running
        self.stop_then = None               # the state a stop leads to
        self.stopping = None                # the stop schedule (stopping.py) running
        self.launch_mark = None             # LAUNCH_VARIABLE=... of the program
        self.held = {}                      # listen: address text -> (Address, socket)
        self.all_held = True                # False: a take-over could not get them all
        self.old = None                     # replacing: (Identity, adopted, launch mark)
        self.old_status = None              # its STATUS= text, should it serve on
        self.outgoing = []                  # (Identity, adopted): programs being retired
        self.retiring = None                # their stop schedule
        self.waiters = []                   # (kind, reply) of requests in progress
        self.offsets = {}
        self.recorded = None

    # -- the state, and the record of it ------------------------------------------------

    def move(self, new):
        self.state = states.move(self.state, new)
        if new == states.RUNNING and self.settings.get('memory-max') \
                and self.memory_timer is None:
            self.memory_timer = self.keeper.later(self.memory_period(), self.look_at_memory)
        self.save()
        if self.settings.get('metrics'):
            self.write_metrics()

    def write_metrics(self):
        """The metrics file (metrics.py), after the record it is made from."""
        from . import check
        trouble = check.write_metrics(self.settings)
        if trouble:
            self.note(trouble)

    def save(self):
        serving = self.old[0] if self.state == states.REPLACING else self.child
        record = states.Record({
            'want': self.want, 'state': self.state,
            'pid': serving.pid if serving and self.state not in states.AT_REST else None,
            'replacing': self.child.pid if self.state == states.REPLACING else None,
            'generation': self.generation, 'restarts': self.restarts,
            'last-exit': self.last_exit, 'status': self.status_text, 'ready': self.ready_note,
            'reloads': self.reloads, 'reopens': self.reopens, 'adopted': self.adopted,
            'next-restart': self.next_restart if self.state == states.BACKOFF else None,
            'message': self.message})
        if not self.child or self.state in states.AT_REST:
            record.values['adopted'] = None
        try:
            self.files.write_keeper(self.keeper.me, record)
        except StateError as e:             # a full disk: the keeper goes on
            self.note('cannot write its record: %s' % e)

    def keep(self):
        """What a keeper needs to take this service over: NAME.kept."""
        try:
            self.files.write_kept({'settings': self.given, 'environ': self.environ})
        except StateError as e:
            self.note('cannot write %s: %s' % (self.files.kept, e))

    def note(self, text):
        """A line of the keeper's own in the service's (error) log."""
        line = '%s keeper[%d]: %s' % (time.strftime('%Y-%m-%d %H:%M:%S'), self.keeper.me.pid,
                                      text)
        if self.logs:
            list(self.logs.values())[-1].note(line)
        else:
            self.keeper.note('%s: %s' % (self.name, line))

    def at_rest(self):
        return self.state in states.AT_REST and not self.waiters and self.probe is None

    # -- the pipes, the logs, the notify socket ------------------------------------------

    def open_pipes(self):
        """The log pipes and logs, once: they outlive every program."""
        if self.logs:
            return
        settings = self.settings
        mode = 0o644 & ~(settings['umask'] if settings['umask'] is not None else 0o022)
        pipes = logpipes.paths(settings)
        logs = {}
        try:
            for path, fifo in pipes.items():
                fd = logpipes.open_pipe(fifo, self.account)
                logs[fd] = logfiles.Log(path, settings['log-max-bytes'],
                                        settings['log-backups'], self.account, mode)
            outputs = [logpipes.open_pipe(fifo, self.account, reader=False)
                       for fifo in pipes.values()]
        except BaseException:
            for fd, log in logs.items():
                os.close(fd)
                log.close()
            raise
        self.logs = logs
        self.outputs = (outputs + [None])[:2]
        for fd in logs:
            self.keeper.watch(fd, self.on_output)

    def open_notify(self):
        if self.notify_sock is not None or not (self.settings['ready'] == 'notify'
                                                or self.settings['watchdog-timeout']):
            return
        from . import notify
        self.notify_path = notify.socket_path(self.settings)
        self.notify_sock = notify.bind(self.notify_path)
        if self.account is not None and not self.notify_path.startswith('@'):
            os.chown(self.notify_path, self.account.pw_uid, self.account.pw_gid)
        self.keeper.watch(self.notify_sock.fileno(), self.on_notify)

    def on_output(self, fd):
        self.drain(fd, chunks=16)           # then let the others speak

    def drain(self, fd=None, chunks=None):
        """Write what waits in the log pipes (one, or all): all of it, or
        ``chunks`` reads at most."""
        for pipe in [fd] if fd is not None else list(self.logs):
            log = self.logs[pipe]
            count = 0
            while chunks is None or count < chunks:
                try:
                    data = os.read(pipe, 65536)
                except (BlockingIOError, InterruptedError):
                    break
                if not data:
                    break
                log.write(data)
                count += 1

    def close(self):
        """The keeper ends: drain and close what this service holds."""
        self.drain()
        for fd, log in self.logs.items():
            self.keeper.unwatch(fd)
            os.close(fd)
            log.close()
        for fd in self.outputs:
            if fd is not None:
                os.close(fd)
        self.logs, self.outputs = {}, (None, None)
        if self.notify_sock is not None:
            self.keeper.unwatch(self.notify_sock.fileno())
            self.notify_sock.close()
            self.notify_sock = None
        for _, sock in self.held.values():
            sock.close()                    # a program that runs on has its own
        self.held = {}

    # -- the held sockets (listen) -----------------------------------------------------------

    def hold_sockets(self):
        """Bind what ``listen`` names and is not held yet (once: every
        program gets the same sockets); let go of what it no longer names."""
        from . import sockets
        addresses = sockets.parse_all(' '.join(self.settings.get('listen') or ()))
        wanted = {address.text for address in addresses}
        for text in [text for text in self.held if text not in wanted]:
            self.release_sockets(text)
        for address in addresses:
            if address.text not in self.held:
                self.held[address.text] = (address, sockets.bind(
                    address, self.account, self.settings.get('listen-mode', 0o666)))

    def release_sockets(self, only=None):
        """Close the held sockets (or the one at ``only``) and remove
        their unix paths: at rest, nobody should queue on them."""
        from . import sockets
        for text in [only] if only else list(self.held):
            address, sock = self.held.pop(text)
            sock.close()
            sockets.remove(address)
        self.all_held = True

    def overlaps(self):
        """Does a restart start the new program beside the old one?"""
        return bool(self.settings.get('listen') and self.settings.get('restart-overlap')
                    and self.all_held and self.state == states.RUNNING)

    # -- requests --------------------------------------------------------------------------

    def request_start(self, reply, settings=None, environ=None):
        """Start unless it runs; ``reply(code, message, pid)`` once it is
        ready, or not."""
        if self.state == states.REPLACING:
            pid = self.old[0].pid
            reply(0, '%s is already running (pid %d, kept by pid %d; restarting)'
                  % (self.name, pid, self.keeper.me.pid), pid)
            return
        if self.state == states.RUNNING:
            if not self.adopted:
                reply(0, '%s is already running (pid %d, kept by pid %d)'
                      % (self.name, self.child.pid, self.keeper.me.pid), self.child.pid)
            else:
                reply(0, '%s is running (pid %d); its keeper (pid %d) adopted it'
                      % (self.name, self.child.pid, self.keeper.me.pid), self.child.pid)
            return
        self.want = states.UP
        self.waiters.append(('start', reply))
        if self.state == states.STARTING:
            return                          # answered once it is ready
        if self.state == states.STOPPING:
            self.stop_then = states.STARTING
            return
        self.take_settings(settings, environ)
        self.cancel('backoff_timer')
        self.begin_start(by_request=True)

    def request_restart(self, reply, settings=None, environ=None):
        """A person's restart: its stop schedule, then a start with the
        settings given (a buildout run may have changed them)."""
        self.want = states.UP
        self.waiters.append(('restart', reply))
        if self.state == states.REPLACING:
            return                          # answered with the one under way
        self.take_settings(settings, environ)
        if self.overlaps():
            self.begin_replace()
        elif self.state in (states.RUNNING, states.STARTING):
            self.begin_stop(states.STARTING)
        elif self.state == states.STOPPING:
            self.stop_then = states.STARTING
        else:
            self.cancel('backoff_timer')
            self.begin_start(by_request=True)

    def request_stop(self, reply):
        """Stop it and what it left; ``reply`` once all of it has ended."""
        self.want = states.DOWN
        if self.state in (states.RUNNING, states.STARTING, states.REPLACING):
            self.waiters.append(('stop', reply))
            self.begin_stop(states.STOPPED)
        elif self.state == states.STOPPING:
            self.waiters.append(('stop', reply))
            self.stop_then = states.STOPPED
        else:
            was = self.state
            self.cancel('backoff_timer')
            if was != states.STOPPED:
                self.move(states.STOPPED)
            self.forget()
            reply(0, '%s is not running' % self.name, None)

    def request_reload(self, reply):
        """Its reload-signal; with ``ready = notify``, answered once it has
        said RELOADING=1 and then READY=1 (systemd's Type=notify-reload)."""
        if self.state != states.RUNNING or not process.send(
                self.child, process.signal_number(self.settings['reload-signal'])):
            reply(7, '%s is not running' % self.name, None)
            return
        if self.settings['ready'] != 'notify':
            reply(0, '%s reloaded (pid %d)' % (self.name, self.child.pid), self.child.pid)
            return
        before = self.reloads
        self.waiters.append(('reload', reply))

        def late():
            if self.reloads == before:
                self.answer('reload', 1, '%s: signalled (pid %d) but it did not say'
                            ' RELOADING=1 then READY=1 within %gs' % (
                                self.name, self.child.pid, self.settings['start-timeout']))
        self.reload_timer = self.keeper.later(self.settings['start-timeout'], late)

    def request_reopen(self, reply):
        for log in self.logs.values():
            log.reopen()
        self.reopens += 1
        self.save()
        reply(0, '%s: its keeper (pid %d) reopened the logs' % (self.name, self.keeper.me.pid),
              None)

    def take_settings(self, settings, environ):
        """New settings (a buildout run changed them) apply at the next
        start; the pipes and logs follow if their paths changed."""
        if settings is None or settings == self.given and without_ours(environ) == self.environ:
            return
        old_logs = logpipes.paths(self.settings)
        self.given, self.settings = settings, dict(settings)
        self.environ = without_ours(environ)
        self.account = account.account_of(settings['user'])
        if logpipes.paths(settings) != old_logs and self.state in states.AT_REST + (
                states.BACKOFF,):
            self.close()

    def answer(self, kind, code, message, pid=None):
        """Answer the requests of ``kind`` ('start', 'stop', ... or None:
        all) that wait."""
        waiting = [(k, reply) for k, reply in self.waiters if kind is None or k == kind]
        self.waiters = [(k, reply) for k, reply in self.waiters
                        if not (kind is None or k == kind)]
        for _, reply in waiting:
            reply(code, message, pid)

    # -- starting ------------------------------------------------------------------------

    def begin_start(self, by_request=False):
        """Launch the program, then wait (on timers) until it is ready."""
        self.by_request = by_request
        try:
            self.open_pipes()
            self.open_notify()
            self.hold_sockets()
            self.offsets = {path: logfiles.size(path) for path in self.pipes()}
            self.launch()
        except (LaunchError, OSError) as e:
            self.message = '%s not started: %s' % (self.name, e)
            self.move(states.FATAL)
            self.note(self.message)
            self.answer(None, LAUNCH_CODES.get(getattr(e, 'kind', None), 1), self.message)
            self.forget()
            return
        if self.restart_note:
            self.note(self.restart_note % self.child.pid)
            self.restart_note = None
            self.fire('restarted')
        self.move(states.STARTING)
        self.wait_for_ready()

    def wait_for_ready(self):
        self.readiness = readiness.Readiness(self.settings['ready'],
                                             self.settings['start-timeout'])
        self.poll_pauses = pauses()
        self.poll_ready()

    def begin_replace(self):
        """A restart with ``listen`` (and restart-overlap): the new program
        starts on the held sockets beside the old one, which serves (and
        is the one recorded) until the new one is ready."""
        self.by_request = True
        for timer in ('watchdog_timer', 'reload_timer'):
            self.cancel(timer)
        old = (self.child, self.adopted, self.launch_mark)
        self.old_status = self.status_text
        try:
            self.hold_sockets()
            self.offsets = {path: logfiles.size(path) for path in self.pipes()}
            self.launch(record=False)
        except (LaunchError, OSError) as e:
            self.status_text = self.old_status
            if self.settings['watchdog-timeout']:
                self.arm_watchdog()
            self.answer('restart', LAUNCH_CODES.get(getattr(e, 'kind', None), 1),
                        '%s not restarted: %s; pid %d serves on' % (self.name, e,
                                                                   self.child.pid))
            return
        self.old = old
        self.outgoing = [old[:2]]           # a stop now stops both
        self.move(states.REPLACING)
        self.wait_for_ready()

    def replaced(self):
        """The new program is ready: it is recorded, and the old one is
        stopped by its stop schedule (its open connections finish)."""
        (old, adopted, _), self.old = self.old, None
        self.record_program()
        self.keep()
        self.move(states.RUNNING)
        self.answer('restart', 0, '%s restarted (pid %d, kept by pid %d); pid %d stops'
                    % (self.name, self.child.pid, self.keeper.me.pid, old.pid), self.child.pid)
        self.retire((old, adopted), spare=(self.child, self.launch_mark))

    def not_replaced(self, message):
        """The new program died, or was not ready in time: it is stopped,
        and the old one serves on (status says its settings are old)."""
        (old, adopted, old_mark), self.old = self.old, None
        new = (self.child, False)
        self.cancel('poll_timer')
        self.stop_watching()
        self.launch_mark, self.adopted = old_mark, adopted
        self.status_text, self.ready_note = self.old_status, None
        self.outgoing = []
        alive = process.is_running(old)
        if alive:
            self.follow(old.pid, old, ours=not adopted)
        else:
            self.child = old
        self.move(states.RUNNING)
        self.note(message.split('\n')[0])
        self.answer('restart', 1, message)
        self.retire(new, spare=(old, old_mark))
        if not alive:                       # it had ended meanwhile
            self.on_exit(None)

    def retire(self, program, spare):
        """Stop one program of two, and what it left, sparing the other's."""
        self.outgoing.append(program)

        def retired():
            if program in self.outgoing:
                self.outgoing.remove(program)
            self.retiring = None

        def stuck(members):
            retired()
            self.note('%s still running after %s, %gs and KILL' % (
                ', '.join('pid %d' % m.pid for m in sorted(members)),
                self.settings['stop-signal'], self.settings['stop-timeout']))

        self.retiring = Stopping(self.keeper, self.settings,
                                 lambda: self.family([program], spare), retired, stuck,
                                 self.note)
        self.retiring.begin()

    def pipes(self):
        return [log.path for log in self.logs.values()]

    def launch(self, record=True):
        """Start a program; ``record`` it (NAME.pid, NAME.settings) now, or
        once it is ready (a restart that overlaps: the old one is the
        service's until then)."""
        # A new program starts from the settings, not from what the last one
        # said: its STATUS= text and a WATCHDOG_USEC= it chose end with it.
        self.status_text = self.ready_note = self.why_stopped = None
        self.said_stopping = False
        self.settings['watchdog-timeout'] = self.given['watchdog-timeout']
        launch_mark = '%s=%d-%d' % (LAUNCH_VARIABLE, self.keeper.me.pid, self.generation + 1)
        extra = dict([launch_mark.split('=', 1)])
        if self.notify_path:
            from . import notify
            extra.update(notify.environment(self.notify_path,
                                            self.settings['watchdog-timeout']))
        plan = launch.plan(self.settings, extra_env=extra, base_env=self.environ,
                           watchdog_pid=bool(self.settings['watchdog-timeout']))
        listen = [self.held[text][1].fileno() for text in self.settings.get('listen') or ()
                  if text in self.held]
        plan.sockets, plan.socket_names = listen, [self.name] * len(listen)
        proc = launch.start(plan, self.outputs)
        self.adopted = False
        self.launch_mark = launch_mark
        self.follow(proc.pid, process.identity(proc.pid), ours=True)
        self.generation += 1
        self.message = None
        if record:
            self.record_program()
            self.keep()

    def record_program(self):
        """NAME.pid and NAME.settings say this program now."""
        try:
            self.files.record_program(self.child, group=True)
            text = fingerprint.record_text(self.given)
            if text != self.recorded:
                self.files.write_settings(text)
                self.recorded = text
        except StateError as e:             # a full disk: it runs, and is kept
            self.note('cannot record pid %d: %s' % (self.child.pid, e))

    def follow(self, pid, ident, ours):
        """Watch ``pid`` as the program: as our child (its end comes as
        SIGCHLD, with its status); or, not ``ours`` (adopted, or a MAINPID=
        whose parent is our child), through a pidfd -- and as our child
        still, should it become one (we are the subreaper)."""
        self.stop_watching()
        self.child = ident
        if ident is None:                   # gone before we could look
            self.keeper.later(0, lambda: self.on_exit(None))
            return
        self.keeper.child(pid, self.on_exit_of(ident))
        if not ours:
            self.pidfd = os.pidfd_open(pid)
            self.keeper.watch(self.pidfd, lambda fd: self.pidfd_fired(ident))
        if self.settings['watchdog-timeout']:
            self.arm_watchdog()

    def pidfd_fired(self, ident):
        """A program followed by pidfd has ended: its status, if it had
        become our child by then."""
        if process.is_running(ident):
            return                          # not it: a stale event
        code = None
        try:
            pid, status = os.waitpid(ident.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            pass
        self.on_exit_of(ident)(code)

    def stop_watching(self):
        if self.pidfd is not None:
            self.keeper.unwatch(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None
        if self.child is not None:
            self.keeper.forget_child(self.child.pid)

    def on_exit_of(self, ident):
        """The end of the program ``ident`` (not of one followed since)."""
        def ended(code):
            if self.child == ident:
                self.on_exit(code)
        return ended

    def poll_ready(self):
        self.poll_timer = None
        if self.state not in states.COMING_UP:
            return
        if self.readiness.needs_probe():
            if self.probe is None:
                self.run_probe()
            return                          # judged when the probe ends
        self.judge(*self.readiness.judge(said_ready=self.ready_note == 'ready'))

    def judge(self, verdict, detail):
        if self.state not in states.COMING_UP:
            return
        if verdict == readiness.READY and self.state == states.REPLACING:
            self.replaced()
        elif verdict == readiness.READY:
            self.move(states.RUNNING)
            self.fire('started' if self.by_request else 'running')
            self.answer('start', 0, '%s started (pid %d, kept by pid %d)'
                        % (self.name, self.child.pid, self.keeper.me.pid), self.child.pid)
            self.answer('restart', 0, '%s restarted (pid %d, kept by pid %d)'
                        % (self.name, self.child.pid, self.keeper.me.pid), self.child.pid)
        elif verdict == readiness.LATE:
            self.failed_start(detail)
        else:
            self.poll_timer = self.keeper.later(next(self.poll_pauses), self.poll_ready)

    def run_probe(self):
        """The ready probe in a child of the keeper's own, so that a slow
        answer (up to 2 s) delays nobody; it says how it went on a pipe."""
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        timeout = self.readiness.probe_timeout()
        pid = os.fork()
        if pid == 0:
            try:
                from . import probe
                ok, detail = probe.run(self.settings['ready'], timeout)
                os.write(write_end, ('%d %s' % (ok, detail)).encode(errors='replace')[:4000])
            finally:
                os._exit(0)
        os.close(write_end)
        self.probe = (pid, read_end)
        self.keeper.child(pid, self.probe_ended)

    def probe_ended(self, code):
        pid, read_end = self.probe
        self.probe = None
        try:
            answer = os.read(read_end, 4096).decode(errors='replace')
        finally:
            os.close(read_end)
        ok, _, detail = answer.partition(' ')
        if self.state in states.COMING_UP:
            self.judge(*self.readiness.judge(probed=(ok == '1', detail or 'no answer')))

    def failed_start(self, detail):
        """Not ready in time, or dead before ready: what it left is stopped;
        a start somebody asked for fails (they are told, with the last lines
        of its log); a restart of the keeper's own counts as another end."""
        tail = [line for path in self.offsets
                for line in logfiles.tail(path, self.offsets[path])]
        if self.state == states.REPLACING:
            message = '%s not restarted: the new program (pid %d) failed to start: %s;' \
                ' pid %d serves on' % (self.name, self.child.pid, detail, self.old[0].pid)
        else:
            message = '%s failed to start: %s' % (self.name, detail)
        if tail:
            message += '; last lines of its log (%s):\n' % list(self.offsets)[0] + '\n'.join(
                '    ' + line for line in tail)
        self.message = message
        if self.state == states.REPLACING:
            self.not_replaced(message)
        elif self.by_request:
            # The stop first: when nothing is left to stop it ends at once,
            # and the start is told only once NAME.pid is gone.
            self.begin_stop(states.FATAL)
            self.answer('start', 1, message)
            self.answer('restart', 1, message)
        else:
            self.note('%s failed to start: %s' % (self.name, detail))
            self.ended_by_itself()

    # -- its end ---------------------------------------------------------------------------

    def on_exit(self, code):
        """The program has ended (``code``: its exit code; None when it was
        not our child)."""
        if self.notify_sock is not None:
            self.on_notify()                # what it said before it ended comes first
        self.stop_watching()
        self.cancel('watchdog_timer')
        self.last_exit = self.why_stopped or (describe_exit(code) if code is not None else
                                              'exited (status unknown: adopted, not our child)')
        if self.state == states.STOPPING:
            self.stopping.look()            # what it left may still run
        elif self.state in states.COMING_UP:
            self.cancel('poll_timer')
            self.failed_start(self.last_exit)
        elif self.state == states.RUNNING:
            if self.said_stopping:
                self.note('pid %d %s after STOPPING=1; it stopped itself, not restarted'
                          % (self.child.pid, self.last_exit))
                self.want = states.DOWN
                self.begin_stop(states.EXITED)
            else:
                self.ended_by_itself()

    def ended_by_itself(self):
        """The restart rules, one implementation with the check's; also for
        a program over memory-max, which is stopped first."""
        dead = self.child
        if not self.why_stopped:
            self.fire('exited')
        now = time.time()
        decision, history = restarts.next_attempt(self.files, self.settings, now)
        self.next_restart = None
        if decision.verdict == restarts.NOW:
            self.restarts += 1
            self.restart_note = 'pid %d %s; restarted it (pid %%d, restart %d of %d within' \
                ' %gs)' % (dead.pid, self.last_exit, len(decision.recent),
                           self.settings['restart-limit'], self.settings['restart-window'])
            if self.family():
                self.begin_stop(states.STARTING)    # what it left goes first
            else:
                self.begin_start()
        elif decision.verdict == restarts.WAIT:
            self.next_restart = now + decision.wait
            self.note('pid %d %s; next restart in %.1fs' % (dead.pid, self.last_exit,
                                                            decision.wait))
            self.backoff_timer = self.keeper.later(decision.wait, self.restart_after_backoff)
            if self.family():
                self.begin_stop(states.BACKOFF)
            else:
                self.move(states.BACKOFF)
        else:
            self.message = ('%s %s; gave up after %d restarts in %gs; run ctl start once it'
                            ' is fixed' % (self.name, self.last_exit,
                                           self.settings['restart-limit'],
                                           self.settings['restart-window']))
            self.note(self.message)
            self.fire('gave-up')
            self.begin_stop(states.FATAL)

    def restart_after_backoff(self):
        """The wait is over: start; or, while what the last program left is
        still being stopped, start as soon as that is done."""
        self.backoff_timer = None
        if self.state == states.BACKOFF:
            self.begin_start()
        elif self.state == states.STOPPING and self.stop_then == states.BACKOFF:
            self.stop_then = states.STARTING

    # -- stopping --------------------------------------------------------------------------

    def begin_stop(self, then):
        """The stop schedule (stopping.py) for the whole family -- the
        program, what it left, and any program on its way out -- then
        ``then``."""
        self.stop_then = then
        for timer in ('poll_timer', 'watchdog_timer', 'reload_timer', 'memory_timer'):
            self.cancel(timer)
        if self.state != states.STOPPING:
            self.move(states.STOPPING)
        for schedule in (self.stopping, self.retiring):
            if schedule is not None:
                schedule.end()              # this one covers theirs
        self.retiring = None
        self.stopping = Stopping(self.keeper, self.settings, self.family, self.finish_stop,
                                 self.survived_kill, self.note)
        self.stopping.begin()

    def family(self, programs=None, spare=None):
        """Every live process of the family, as Identities: of the
        program and of those on their way out, or of ``programs`` alone
        ((Identity, adopted) pairs) but for the family of ``spare`` (the
        (Identity, launch mark) of the other program of an overlapping
        restart)."""
        service_mark = mark(self.settings)
        if programs is None:
            programs = [(self.child, self.adopted)] + self.outgoing
        found = set()
        tops = []
        for ident, adopted in programs:
            if ident is None:
                continue
            if adopted:                     # its orphans went elsewhere
                found.update(process.family(ident, True, service_mark))
                found.update(process.marked(service_mark, account.service_uid(self.settings)))
            elif process.is_running(ident):
                tops.append(ident.pid)
        for pid in process.children(self.keeper.me.pid) or ():
            if pid not in self.keeper.children and process.carries(pid, service_mark):
                tops.append(pid)
        for top in tops:
            for pid in [top] + (process.descendants(top) or []):
                ident = process.identity(pid)
                if ident is not None:
                    found.add(ident)
        found = {m for m in found if process.is_running(m)}
        if spare is not None:
            ident, launch_mark = spare
            spared = {ident.pid} | set(process.descendants(ident.pid) or [])
            found = {m for m in found if m.pid not in spared and not (
                launch_mark and process.carries(m.pid, launch_mark))}
        return found

    def survived_kill(self, members):
        """Something survives KILL (a process stuck in the kernel): said,
        with whom; the service is fatal until a person looks."""
        self.message = '%s: %s still running after %s, %gs and KILL' % (
            self.name, ', '.join('pid %d (%s)' % (m.pid, process.command(m.pid))
                                 for m in sorted(members)),
            self.settings['stop-signal'], self.settings['stop-timeout'])
        self.note(self.message)
        self.stop_then = None
        self.outgoing = []
        self.want = states.DOWN
        self.move(states.FATAL)
        self.answer(None, 1, self.message)
        self.release_sockets()

    def finish_stop(self):
        """The family has ended: on to what the stop was for."""
        then, self.stop_then = self.stop_then, None
        self.stopping = None
        self.outgoing = []
        self.drain()
        if then == states.STARTING:
            self.begin_start(by_request=any(kind in ('start', 'restart')
                                            for kind, _ in self.waiters))
            return
        was = self.child
        self.move(then)
        if then == states.BACKOFF:
            return
        try:
            self.files.forget_program()
            if then == states.EXITED:
                self.files.mark_stopped()
        except StateError as e:
            self.note('cannot record that it stopped: %s' % e)
        if then == states.FATAL:
            self.answer(None, 1, self.message or '%s failed' % self.name)
        else:
            self.answer('stop', 0, '%s stopped (pid %d)' % (self.name, was.pid)
                        if was else '%s is not running' % self.name,
                        was.pid if was else None)
            self.answer(None, 1, '%s: stopped while starting' % self.name)
        self.forget()

    def forget(self):
        """At rest: no longer kept (NAME.kept goes), the held sockets let
        go; a stop on purpose takes the record too, as there is nothing
        more to say."""
        self.child = None
        self.release_sockets()
        try:
            self.files.clear_kept()
            if self.state == states.STOPPED:
                self.files.clear_keeper()
        except StateError:
            pass

    def cancel(self, name):
        timer = getattr(self, name)
        if timer is not None:
            timer.cancel()
            setattr(self, name, None)

    # -- taking over a program left running -------------------------------------------------

    def take_over(self):
        """A keeper that starts finds this service kept by one that is gone
        (killed, or handed over to a new version): its program, if it still
        runs, is adopted by pidfd, never started again; its output waited
        in the pipes.  One that ended meanwhile is restarted by the rules."""
        _, record = self.files.read_keeper()
        self.want = record.get('want', states.UP)
        self.generation = record.get('generation', 0)
        self.restarts = record.get('restarts', 0)
        self.reloads, self.reopens = record.get('reloads', 0), record.get('reopens', 0)
        self.status_text = record['status']
        self.recorded = self.files.read_settings()
        self.open_pipes()
        self.open_notify()
        program = self.files.read_program()
        if program.ident is not None and process.is_running(program.ident):
            self.adopted = True
            self.follow(program.pid, program.ident, ours=False)
            self.recover_sockets(program.pid)
            self.generation += 1
            self.move(states.RUNNING)
            self.note('adopted pid %d, left running by a keeper that is gone; its exit'
                      ' status will be unknown (it is not our child)' % program.pid)
            return
        if self.want == states.UP:            # it ended while no keeper ran
            self.child = program.ident
            self.adopted = True                 # what it left went elsewhere
            self.last_exit = 'ended while no keeper ran (status unknown)'
            self.ended_by_itself()
        else:
            self.forget()

    def recover_sockets(self, pid):
        """The held sockets of an adopted program, taken from it: the next
        restart overlaps as before.  Those it cannot give (not allowed, or
        it closed them) are said; its next restart stops it first."""
        if not self.settings.get('listen'):
            return
        from . import sockets
        addresses = sockets.parse_all(' '.join(self.settings['listen']))
        found = sockets.recover(pid, addresses)
        self.held = {address.text: (address, found[address.text])
                     for address in addresses if address.text in found}
        missing = [address.text for address in addresses if address.text not in found]
        self.all_held = not missing
        if missing:
            self.note('could not take %s from pid %d; its next restart stops it first'
                      % (', '.join(missing), pid))

    # -- sd_notify -----------------------------------------------------------------------

    def on_notify(self, fd=None):
        from . import notify
        for pid, uid, fields in notify.receive(self.notify_sock):
            if self.child is None or pid != self.child.pid:
                continue                # NotifyAccess=main, as systemd's default
            if fields.get('MAINPID', '').isdigit():
                # First: a READY=1 in the same datagram answers start with
                # the pid it named, and the pid file already holds it.
                self.follow_main(int(fields['MAINPID']))
            if 'STATUS' in fields:
                self.status_text = fields['STATUS']
            if fields.get('RELOADING') == '1':
                self.ready_note = 'reloading'
            if fields.get('READY') == '1':
                if self.ready_note == 'reloading':
                    self.reloads += 1
                    self.cancel('reload_timer')
                    self.answer('reload', 0, '%s reloaded (pid %d)' % (
                        self.name, self.child.pid), self.child.pid)
                self.ready_note = 'ready'
                if self.state == states.STARTING:
                    self.cancel('poll_timer')
                    self.poll_ready()   # now: a STOPPING=1 behind it must find it running
            if fields.get('STOPPING') == '1' and self.state == states.RUNNING:
                self.said_stopping = True       # its end is expected: not restarted
            if fields.get('WATCHDOG_USEC', '').isdigit():
                self.settings['watchdog-timeout'] = int(fields['WATCHDOG_USEC']) / 1e6
            if fields.get('WATCHDOG') == '1' and self.settings['watchdog-timeout']:
                self.arm_watchdog()
            if fields.get('EXTEND_TIMEOUT_USEC', '').isdigit() and self.readiness:
                self.readiness.extend(int(fields['EXTEND_TIMEOUT_USEC']) / 1e6)
            self.save()

    def follow_main(self, pid):
        """MAINPID=: follow another process, if it is one of ours (our
        child, or reparented to us as the subreaper)."""
        facts = process.facts(pid)
        if facts is None or pid == self.child.pid or facts.ppid not in (
                self.keeper.me.pid, self.child.pid):
            return
        self.follow(pid, process.identity(pid), ours=facts.ppid == self.keeper.me.pid)
        self.files.record_program(self.child, group=facts.pgid == pid)
        self.note('following MAINPID=%d' % pid)

    # -- on-event --------------------------------------------------------------------------

    def fire(self, event):
        """The on-event command, as one more child of ours (events.py):
        never waited for, killed after on-event-timeout, its failure noted."""
        if not self.settings.get('on-event'):
            return
        from . import events
        try:
            steps = events.plan(self.settings, event, self.child and self.child.pid,
                                self.last_exit, self.restarts, self.environ)
            child = launch.start(steps, self.outputs if self.outputs[0] is not None
                                 else (self.null(), None))
        except (LaunchError, OSError) as e:
            self.note('on-event %s for %s could not run: %s' % (
                self.settings['on-event'][0], event, e))
            return
        late = []

        def too_long():
            late.append(True)
            os.kill(child.pid, 9)           # our child, not yet reaped: it is still it
        timer = self.keeper.later(self.settings['on-event-timeout'], too_long)

        def ended(code):
            timer.cancel()
            line = events.failure(self.settings, event, None if late else code)
            if line:
                self.note(line)
        self.keeper.child(child.pid, ended)

    def null(self):
        """/dev/null, for an event's output when no program's pipes are open."""
        if getattr(self, 'devnull', None) is None:
            self.devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        return self.devnull

    # -- memory-max ------------------------------------------------------------------------

    def memory_period(self):
        """How often to look: often enough for memory-max-for, never more
        than twice a second.  A service without memory-max is never looked at."""
        return min(2.0, max(0.5, self.settings['memory-max-for'] / 2))

    def look_at_memory(self):
        """The family's memory (PSS) against memory-max; over it for
        memory-max-for, the program is restarted by the restart rules."""
        self.memory_timer = None
        if self.state != states.RUNNING or not self.settings.get('memory-max'):
            return
        used = sum(process.pss(member.pid) or 0 for member in self.family())
        limit = self.settings['memory-max']
        now = time.monotonic()
        if used <= limit:
            self.memory_over = None
        elif self.memory_over is None or self.memory_over[0] != self.child.pid:
            self.memory_over = (self.child.pid, now)
        if self.memory_over is None or now - self.memory_over[1] < \
                self.settings['memory-max-for']:
            self.memory_timer = self.keeper.later(self.memory_period(), self.look_at_memory)
            return
        self.memory_over = None
        self.last_exit = self.why_stopped = 'over memory-max: %s of %s' % (
            format_bytes(used), format_bytes(limit))
        self.ended_by_itself()              # stopped, then restarted by the rules

    def arm_watchdog(self):
        self.cancel('watchdog_timer')
        self.watchdog_timer = self.keeper.later(self.settings['watchdog-timeout'],
                                                self.watchdog_missed)

    def watchdog_missed(self):
        self.watchdog_timer = None
        if self.state != states.RUNNING:
            return
        self.note('pid %d sent no WATCHDOG=1 for %gs; killing it with SIGABRT' % (
            self.child.pid, self.settings['watchdog-timeout']))
        for member in self.family():
            process.send(member, process.signal_number('SIGABRT'))
