"""Start, stop and ask about one service run directly (the cron mode),
keeping its state files true; and what every mode shares: the exit codes,
Outcome and Status, the lock step.

``supervision`` builds on it for a kept program; ``modes`` sends each
command to one or the other, so ``ctl`` and ``check`` mean the same by
"running".  The
callers hold the service lock around ``start`` and ``stop``; ``status`` needs
none, because every state file is replaced atomically.

Each function returns an Outcome: an LSB exit code and the one line to say.
``launch``, ``readiness`` and ``terminate`` are imported by the functions
that launch or stop, never at the top: ``status`` does neither, and a
generated ``status`` is mostly imports.
"""

import os

from . import fingerprint
from . import process
from .program import LaunchError, format_bytes, mark
from .servicefiles import ServiceFiles, StateError

# LSB exit codes (init-script actions; status has its own meanings for 1-4).
SUCCESS, FAILED, BAD_ARGS, UNIMPLEMENTED = 0, 1, 2, 3
NO_PRIVILEGE, NOT_INSTALLED, NOT_CONFIGURED, NOT_RUNNING = 4, 5, 6, 7
STATUS_RUNNING, STATUS_DEAD, STATUS_STOPPED, STATUS_UNKNOWN = 0, 1, 3, 4

LAUNCH_CODES = {'not-installed': NOT_INSTALLED, 'not-configured': NOT_CONFIGURED,
                'permission': NO_PRIVILEGE}


class Outcome:
    """An exit code, the line to say, and the PID acted on (if any)."""
    __slots__ = ('code', 'message', 'pid')

    def __init__(self, code, message, pid=None):
        self.code, self.message, self.pid = code, message, pid


class Status:
    """``state`` is 'running', 'starting' (waiting for ready), 'dead' or
    'stopped'; ``code`` the LSB status."""
    __slots__ = ('code', 'state', 'pid', 'uptime', 'message', 'changed', 'memory')

    def __init__(self, code, state, pid, uptime, message, changed=None, memory=None):
        self.code, self.state, self.pid = code, state, pid
        self.uptime, self.message = uptime, message
        self.changed = changed      # settings changed since start: their names
        self.memory = memory        # bytes of PSS of the running family, if known

    def __repr__(self):
        return '<Status %s pid=%s code=%d>' % (self.state, self.pid, self.code)


def files_of(settings):
    return ServiceFiles(settings['pid-dir'], settings['name'])


def locked(settings, files=None):
    """``with lifecycle.locked(settings) as files:`` the one step before any
    change: the pid dir prepared, the service's lock held (waiting for it
    at most lock_wait(settings) seconds)."""
    return (files or files_of(settings)).locked(lock_wait(settings))


KILL_WAIT = 5.0     # how long terminate waits after KILL


def lock_wait(settings):
    """The longest another command may hold the lock (a restart by the
    check: its probe, the stop schedule, KILL, the start), and 10s more.
    BUILDOUT_SCRIPT_LOCK_WAIT (seconds) overrides it."""
    given = os.environ.get('BUILDOUT_SCRIPT_LOCK_WAIT')
    if given:
        try:
            return max(0.0, float(given))
        except ValueError:
            pass
    return (settings['check-timeout'] + settings['stop-timeout'] + KILL_WAIT
            + settings['start-timeout'] + 10.0)


def not_started(name, error):
    """The Outcome of a program that could not be launched at all."""
    return Outcome(LAUNCH_CODES[error.kind], '%s not started: %s' % (name, error))


def status(settings, files=None):
    """What is true now, without taking the lock."""
    files = files or files_of(settings)
    name = settings['name']
    record = files.read_program()
    if record.torn:
        return Status(STATUS_DEAD, 'dead', None, None,
                      '%s is not running, but its PID file %s holds no PID (cut short by'
                      ' a crash?); the next start replaces it' % (name, files.pid))
    if record.pid is None:
        interrupted = _unrecorded_start(settings, files)
        if interrupted is not None:
            return interrupted
        since = files.stopped_on_purpose()
        why = ' (stopped on purpose at %s)' % since if since else ''
        return Status(STATUS_STOPPED, 'stopped', None, None, '%s is not running%s' % (name, why))
    if record.ident is None or not process.is_running(record.ident):
        return Status(STATUS_DEAD, 'dead', record.pid, None,
                      '%s is not running, but its PID file %s names pid %d'
                      % (name, files.pid, record.pid))
    up = process.uptime(record.ident)
    starter = files.starting_for(record.pid)
    if starter is not None and process.is_running(starter):
        return Status(STATUS_RUNNING, 'starting', record.pid, up,
                      '%s is starting (pid %d, waiting for %s)'
                      % (name, record.pid, settings['ready']))
    changed = fingerprint.changes(settings, files.read_settings())
    memory = process.family_memory(record.pid, mark(settings))
    facts = running_facts(record.pid, up, memory)
    if changed:
        return Status(STATUS_RUNNING, 'running', record.pid, up,
                      '%s is running with old settings; restart to apply (%s; changed: %s)'
                      % (name, facts, ', '.join(changed)), changed, memory)
    return Status(STATUS_RUNNING, 'running', record.pid, up,
                  '%s is running (%s)' % (name, facts), None, memory)


def running_facts(pid, up, memory):
    """``pid N, up T, memory M``: what status says of a running program
    (the memory of its family: its PSS and its descendants')."""
    facts = 'pid %d, up %s' % (pid, format_duration(up))
    if memory is not None:
        facts += ', memory %s' % format_bytes(memory)
    return facts


def _unrecorded_start(settings, files):
    """The Status while no program is recorded but a start has begun: still
    under way (its command lives), or cut short before it could record what
    it launched, which may run on (a scan for the service's mark, made only
    here).  None when there is no such start."""
    marker = files.read_starting()
    if marker is None:
        return None
    name = settings['name']
    if process.is_running(marker[1]):
        return Status(STATUS_UNKNOWN, 'starting', None, None, '%s is starting (not recorded'
                      ' yet: pid %d is launching it)' % (name, marker[1].pid))
    from .account import service_uid
    left = sorted(ident.pid for ident in process.marked(mark(settings),
                                                       service_uid(settings)))
    if not left:
        return None
    return Status(STATUS_UNKNOWN, 'unknown', None, None,
                  '%s: unknown: a start was interrupted before it recorded the program,'
                  ' which runs on unrecorded (pid %s); run stop or start'
                  % (name, ', '.join('%d' % pid for pid in left)))


def start(settings, files=None):
    """Start the service unless it runs; wait until it is ready.  The
    caller holds the lock on a prepared pid dir."""
    from . import logfiles
    files = files or files_of(settings)
    name = settings['name']
    record = files.read_program()
    if record.ident is not None and process.is_running(record.ident):
        files.clear_stopped()
        return Outcome(SUCCESS, '%s is already running (pid %d)' % (name, record.pid),
                       record.pid)
    left = clear_leftovers(settings, files, record)
    if left.alive:
        what = 'an earlier start' if record.pid is None else 'pid %d' % record.pid
        return Outcome(FAILED, '%s not started: what %s left behind survives KILL: %s'
                       % (name, what, left.survivors()))
    offsets = {path: logfiles.size(path) for path in set(logfiles.paths(settings))}
    # Said before the launch: if this command is killed before it records
    # the program, status can tell (and stop or the next start sweeps it).
    files.mark_starting(None, process.identity(os.getpid()))
    try:
        return _launch_and_wait(settings, files, offsets)
    finally:
        files.clear_starting()


def _launch_and_wait(settings, files, offsets):
    from . import launch
    from . import logfiles
    name = settings['name']
    try:
        listener = _notify_listener(settings)
    except OSError as e:                # notify.ListenError: its line says it all
        return Outcome(FAILED, '%s not started: %s' % (name, e))
    try:
        proc = launch.launch(settings, extra_env=listener and listener[1])
    except LaunchError as e:
        _close_listener(listener)
        return not_started(name, e)
    ident = process.identity(proc.pid)
    try:
        files.record_program(ident, group=True)
        files.clear_stopped()
        record_settings(settings, files)
        ready, detail = wait_ready_marked(settings, files, proc, listener)
    except BaseException:
        _close_listener(listener)
        # Unrecorded (or interrupted before ready): nothing may run on untracked.
        _stop_family(settings, ident, True)
        proc.poll()
        files.forget_program()
        raise
    _close_listener(listener)
    if ready:
        return Outcome(SUCCESS, '%s started (pid %d)' % (name, proc.pid), proc.pid)
    # Dead or not, what it forked may live on: stop the whole family.
    left = _stop_family(settings, ident, True)
    proc.poll()
    if not left.alive:
        files.forget_program()
    log = logfiles.paths(settings)[0]
    tail = [line for path in offsets for line in logfiles.tail(path, offsets[path])]
    message = '%s failed to start: %s' % (name, detail)
    if left.alive:
        message += '; and what it started survives KILL (%s; pid %d kept in %s)' % (
            left.survivors(), proc.pid, files.pid)
    if tail:
        message += '; last lines of its log (%s):\n' % log + '\n'.join(
            '    ' + line for line in tail)
    return Outcome(FAILED, message)


def record_settings(settings, files):
    """Remember what the program was started (or reloaded) with."""
    files.write_settings(fingerprint.record_text(settings))


def wait_ready_marked(settings, files, proc, listener=None):
    """Wait until ready, with NAME.starting naming the program meanwhile so
    that ``status`` says "starting" rather than "running"; start removes
    the marker."""
    from . import readiness
    from .account import service_uid
    if settings['ready']:
        files.mark_starting(proc.pid, process.identity(os.getpid()))
    return readiness.wait(proc, settings['ready'], settings['start-timeout'],
                          listener and listener[0], mark(settings), service_uid(settings))


def stop(settings, files=None, on_purpose=True):
    """Stop the service and all it left behind.  ``on_purpose`` records that
    a person wanted it down, so the watchdog leaves it alone.  The caller
    holds the lock on a prepared pid dir.

    Stopping comes first: a full or read-only disk that cannot take the
    record is a warning on the line, never a reason to leave it running."""
    files = files or files_of(settings)
    name = settings['name']
    record = files.read_program()
    warnings = []
    if on_purpose:
        record_or_warn(files.mark_stopped, warnings)
    was_running = record.ident is not None and process.is_running(record.ident)
    left = _stop_family(settings, record.ident, record.group)
    if left.alive:
        what = 'what an earlier start left behind' if record.pid is None else 'pid %d' \
            % record.pid
        return Outcome(FAILED, '%s: %s is still running after %s, %gs and KILL: %s' % (
            name, what, settings['stop-signal'], settings['stop-timeout'], left.survivors()),
            record.pid)
    if record.pid is not None or record.torn:
        record_or_warn(files.forget_program, warnings)
    else:                               # a start cut short: its marker goes too
        record_or_warn(files.clear_starting, warnings)
    if was_running:
        outcome = Outcome(SUCCESS, '%s stopped (pid %d)' % (name, record.pid), record.pid)
    else:
        outcome = Outcome(SUCCESS, '%s is not running' % name)
    return with_warnings(outcome, warnings)


def record_or_warn(step, warnings):
    """Run a step that only records; a failure becomes a warning."""
    try:
        step()
    except StateError as e:
        warnings.append(str(e))


def with_warnings(outcome, warnings):
    if warnings:
        outcome.message += '; warning: ' + '; '.join(warnings)
    return outcome


def restart(settings, files, only_if_running=False, stop_with=None):
    """A person's restart: stop (not on purpose) and start again, ending the
    watchdog's give-up as start does.  The caller holds the lock.
    ``stop_with``: another mode's stop (``modes``: a keeper left running)."""
    if only_if_running and status(settings, files).code != STATUS_RUNNING:
        return Outcome(SUCCESS, '%s is not running; not restarted' % settings['name'])
    files.clear_restarts()
    return stop_then_start(settings, files, stop_with or stop, start)


def stop_then_start(settings, files, stop, start):
    """``stop`` (not on purpose), then ``start`` if that worked; the line
    names both PIDs.  Each mode brings its own pair."""
    stopped = stop(settings, files, on_purpose=False)
    if stopped.code != SUCCESS:
        return stopped
    started = start(settings, files)
    if started.code == SUCCESS and stopped.pid:
        started.message = '%s restarted (pid %d, was %d)' % (
            settings['name'], started.pid, stopped.pid)
    return started


def send_signal(settings, signame, done):
    """Signal the program itself (not its group: a master process decides
    what its workers get)."""
    name = settings['name']
    record = files_of(settings).read_program()
    if record.ident is None or not process.send(record.ident, process.signal_number(signame)):
        return Outcome(NOT_RUNNING, '%s is not running' % name)
    return Outcome(SUCCESS, '%s %s (pid %d)' % (name, done, record.pid))


def foreground(settings):
    """Run attached; the PID file names this very process (exec keeps the
    PID and start time), so status and stop work from another terminal.

    It counts as stopped on purpose, so that when the session ends the
    watchdog does not bring the program back as a daemon; and stop signals
    only the program and its descendants, never the shell job it is in.
    Returns only if the program could not be run."""
    from . import launch
    name = settings['name']
    with locked(settings) as files:
        st = status(settings, files)
        if st.code == STATUS_RUNNING:
            return Outcome(FAILED, '%s is already running (pid %d)' % (name, st.pid))
        try:
            steps = launch.plan(settings)
        except LaunchError as e:
            return not_started(name, e)
        files.record_program(process.identity(os.getpid()), group=False)
        files.mark_stopped()
        record_settings(settings, files)
        try:
            launch.exec_here(steps)
        except LaunchError as e:
            files.forget_program()
            return not_started(name, e)


def _notify_listener(settings):
    """``ready = notify`` without a keeper: (socket, environment) to hear
    READY=1 on while starting, else None.  notify.ListenError if there is
    no socket to be had."""
    if settings['ready'] != 'notify':
        return None
    from . import notify
    from .account import account_of
    path = notify.socket_path(settings)
    sock = notify.bind(path)
    account = account_of(settings['user'])
    if account is not None and not path.startswith('@'):
        os.chown(path, account.pw_uid, account.pw_gid)
    return sock, notify.environment(path)


def _close_listener(listener):
    if listener:
        from . import notify
        path = notify.name_of(listener[0])
        listener[0].close()
        if path and not path.startswith('@'):
            try:
                os.unlink(path)
            except OSError:
                pass


def _stop_family(settings, ident, group):
    """Stop the recorded program (``ident`` may be None) and every process
    of the service's user that carries the service's mark; a
    terminate.Ended."""
    from . import terminate
    from .account import service_uid
    return terminate.terminate(ident, group, settings['stop-signal'],
                               settings['stop-timeout'], mark(settings), KILL_WAIT,
                               service_uid(settings))


def clear_leftovers(settings, files, record):
    """Before a new start: what a dead leader left (say, a worker still
    holding the port), or a start killed before it could record its
    program, is stopped, and the stale record goes; a terminate.Ended.
    If something survives, the record stays, and nothing may be started."""
    left = _stop_family(settings, record.ident, record.group)
    if not left.alive and (record.pid is not None or record.torn):
        files.forget_program()
    return left


def format_duration(seconds):
    if seconds is None:
        return 'unknown'
    seconds = int(seconds)
    if seconds < 120:
        return '%ds' % seconds
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return '%dd %dh' % (days, hours)
    if hours:
        return '%dh %dm' % (hours, minutes)
    return '%dm %ds' % (minutes, seconds)
