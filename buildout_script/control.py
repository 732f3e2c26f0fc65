"""Start, stop and ask about one service, keeping its state files true.

Shared by ``ctl`` and ``check`` so both mean the same by "running".  The
callers hold the service lock around ``start`` and ``stop``; ``status`` needs
none, because every state file is replaced atomically.

Each function returns an Outcome: an LSB exit code and the one line to say.
"""

from . import process
from .state import ServiceFiles

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
    """``state`` is 'running', 'dead' or 'stopped'; ``code`` the LSB status."""
    __slots__ = ('code', 'state', 'pid', 'uptime', 'message')

    def __init__(self, code, state, pid, uptime, message):
        self.code, self.state, self.pid = code, state, pid
        self.uptime, self.message = uptime, message

    def __repr__(self):
        return '<Status %s pid=%s code=%d>' % (self.state, self.pid, self.code)


def files_of(settings):
    return ServiceFiles(settings['pid_dir'], settings['name'])


def status(settings, files=None):
    """What is true now, without taking the lock."""
    files = files or files_of(settings)
    name = settings['name']
    record = files.read()
    if record.pid is None:
        since = files.stopped_on_purpose()
        why = ' (stopped on purpose at %s)' % since if since else ''
        return Status(STATUS_STOPPED, 'stopped', None, None, '%s is not running%s' % (name, why))
    if record.ident is None or not process.is_running(record.ident):
        return Status(STATUS_DEAD, 'dead', record.pid, None,
                      '%s is not running, but its PID file %s names pid %d'
                      % (name, files.pid, record.pid))
    up = process.uptime(record.ident)
    return Status(STATUS_RUNNING, 'running', record.pid, up,
                  '%s is running (pid %d, up %s)' % (name, record.pid, format_duration(up)))


def start(settings, files=None):
    """Start the service unless it runs; wait until it is ready.  The
    caller holds the lock on a prepared pid dir."""
    from . import daemon
    files = files or files_of(settings)
    name = settings['name']
    record = files.read()
    if record.ident is not None and process.is_running(record.ident):
        files.clear_stopped()
        return Outcome(SUCCESS, '%s is already running (pid %d)' % (name, record.pid),
                       record.pid)
    if not _clear_leftovers(settings, files, record):
        return Outcome(FAILED, '%s not started: what pid %d left behind survives KILL;'
                       ' see ps -g %d' % (name, record.pid, record.pid))

    log, errlog = daemon.log_paths(settings)
    offsets = {path: daemon.log_size(path) for path in {log, errlog}}
    try:
        proc = daemon.launch(settings)
    except daemon.LaunchError as e:
        return Outcome(LAUNCH_CODES[e.kind], '%s not started: %s' % (name, e))
    ident = process.identity(proc.pid)
    try:
        files.write(ident, group=True)
        files.clear_stopped()
        ready, detail = daemon.wait_ready(proc, settings['ready'], settings['start_timeout'])
    except BaseException:
        # Unrecorded (or interrupted before ready): nothing may run on untracked.
        _stop_family(settings, ident, True)
        proc.poll()
        files.clear()
        raise
    if ready:
        return Outcome(SUCCESS, '%s started (pid %d)' % (name, proc.pid), proc.pid)
    # Dead or not, what it forked may live on: stop the whole family.
    stopped = _stop_family(settings, ident, True)
    proc.poll()
    if stopped:
        files.clear()
    tail = [line for path in offsets for line in daemon.log_tail(path, offsets[path])]
    message = '%s failed to start: %s' % (name, detail)
    if not stopped:
        message += '; and what it started survives KILL (pid %d kept in %s)' % (
            proc.pid, files.pid)
    if tail:
        message += '; last lines of its log (%s):\n' % log + '\n'.join(
            '    ' + line for line in tail)
    return Outcome(FAILED, message)


def stop(settings, files=None, on_purpose=True):
    """Stop the service and all it left behind.  ``on_purpose`` records that
    a person wanted it down, so the watchdog leaves it alone.  The caller
    holds the lock on a prepared pid dir."""
    files = files or files_of(settings)
    name = settings['name']
    record = files.read()
    if on_purpose:
        files.mark_stopped()
    if record.ident is None:
        files.clear()
        return Outcome(SUCCESS, '%s is not running' % name)
    was_running = process.is_running(record.ident)
    if not _stop_family(settings, record.ident, record.group):
        return Outcome(FAILED, '%s is still running after %s, %gs and KILL (pid %d)'
                       % (name, settings['stop_signal'], settings['stop_timeout'], record.pid),
                       record.pid)
    files.clear()
    if was_running:
        return Outcome(SUCCESS, '%s stopped (pid %d)' % (name, record.pid), record.pid)
    return Outcome(SUCCESS, '%s is not running' % name)


def _stop_family(settings, ident, group):
    from . import daemon
    return daemon.stop(ident, group, settings['stop_signal'], settings['stop_timeout'],
                       daemon.mark(settings))


def _clear_leftovers(settings, files, record):
    """Before a new start: what a dead leader left (say, a worker still
    holding the port) is stopped, and the stale record goes.  False if
    something survives: then the record stays, and nothing is started."""
    if record.ident is not None and not _stop_family(settings, record.ident, record.group):
        return False
    if record.pid is not None:
        files.clear()
    return True


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
