"""A supervised service (``supervise = true``), from the commands' side.

The lifecycle of a service whose program is kept by a keeper
(``buildout_script.keeper``): start the keeper and wait for its answer,
stop the program through it, ask what both are doing.  It builds
on ``lifecycle`` (the cron mode's steps, done under the keeper's record);
``modes`` sends a supervised service's commands here.

The keeper is never a single point of failure: when it is gone and the
program runs on, any command that changes the service (and the check) first
starts a keeper that adopts the program, never a second copy.
"""

import os
import sys
import time

from . import lifecycle
from . import process
from . import program
from .lifecycle import Outcome, Status


class KeptStatus(Status):
    """A Status with what the keeper says: ``keeper`` is its PID while it
    runs (else None), ``fields`` its record (state, restarts, last-exit, ...)."""
    __slots__ = ('keeper', 'fields')


def keeper_of(files):
    """(the live keeper's Identity or None, its record's fields)."""
    ident, fields = files.read_keeper()
    if ident is not None and not process.is_running(ident):
        ident = None
    return ident, fields


def status(settings, files):
    st = lifecycle.status(settings, files)
    keeper, fields = keeper_of(files)
    kept = KeptStatus(st.code, st.state, st.pid, st.uptime, st.message, st.changed)
    kept.keeper, kept.fields = (keeper.pid if keeper else None), fields
    name = settings['name']
    if st.state == 'running' and keeper and fields.get('state') == 'starting':
        kept.state = 'starting'             # as the cron mode says: not ready yet
        kept.message = '%s is starting (pid %d, waiting for %s; kept by pid %d)' % (
            name, st.pid, settings['ready'], keeper.pid)
    elif st.state == 'running':
        if keeper:
            kept.message = '%s is running (pid %d, up %s; kept by pid %d, restarts: %s)' % (
                name, st.pid, lifecycle.format_duration(st.uptime), keeper.pid,
                fields.get('restarts', '0'))
        else:
            kept.message = ('%s is running (pid %d, up %s) unsupervised: its keeper is gone;'
                            ' the next ctl command or check adopts it'
                            % (name, st.pid, lifecycle.format_duration(st.uptime)))
    elif keeper and fields.get('state') == 'backoff':
        kept.message = '%s is not running (%s); its keeper (pid %d) restarts it in %ds' % (
            name, fields.get('last-exit', 'exited'), keeper.pid,
            max(0, float(fields.get('next_restart', 0)) - time.time()) + 0.999)
    elif keeper:
        kept.message = '%s is %s (kept by pid %d)' % (name, fields.get('state'), keeper.pid)
    elif fields.get('message'):
        kept.message += ' (%s)' % fields['message']
    if st.changed and st.state == 'running':
        kept.message += '; old settings: restart to apply (changed: %s)' % ', '.join(st.changed)
    if fields.get('status') and st.state == 'running':
        kept.message += '; status: %s' % fields['status']
    return kept


def start(settings, files):
    name = settings['name']
    keeper, fields = keeper_of(files)
    record = files.read_program()
    running = record.ident is not None and process.is_running(record.ident)
    if keeper is not None:
        files.clear_stopped()
        if running:
            return Outcome(lifecycle.SUCCESS, '%s is already running (pid %d, kept by pid %d)'
                           % (name, record.pid, keeper.pid), record.pid)
        return ask_restart(settings, files, keeper, fields)     # in backoff: now
    if running:
        files.clear_stopped()
        return start_keeper(settings, files, 'adopt')
    if not lifecycle.clear_leftovers(settings, files, record):
        return Outcome(lifecycle.FAILED, '%s not started: what pid %d left behind survives'
                       ' KILL; see ps -g %d' % (name, record.pid, record.pid))
    files.clear_keeper()
    files.clear_stopped()
    return start_keeper(settings, files, 'start')


def adopt_if_unsupervised(settings, files):
    """The program runs without its keeper: start one that adopts it.
    Returns the Outcome of that, or None if there was nothing to do."""
    keeper, _ = keeper_of(files)
    record = files.read_program()
    if keeper is None and record.ident is not None and process.is_running(record.ident):
        return start_keeper(settings, files, 'adopt')
    return None


def start_keeper(settings, files, mode):
    """Start a keeper (in a session of its own) and wait for its answer."""
    import marshal
    import select
    import subprocess
    # -S: no site (some 5 MiB of a resident process); our sys.path instead.
    argv = [sys.executable, '-S', '-m', 'buildout_script.keeper', settings['name'],
            settings['pid-dir']]
    env = dict(os.environ)
    env.pop(program.MARK_VARIABLE, None)
    env['PYTHONPATH'] = os.pathsep.join(p for p in sys.path if p)
    try:
        keeper = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, cwd='/', env=env,
                                  start_new_session=True, close_fds=True)
    except OSError as e:
        return Outcome(lifecycle.FAILED, '%s not started: cannot run the keeper: %s'
                       % (settings['name'], e.strerror))
    keeper.stdin.write(marshal.dumps({'settings': settings, 'mode': mode,
                                      'pythonpath': os.environ.get('PYTHONPATH')}))
    keeper.stdin.close()
    deadline = time.monotonic() + settings['start-timeout'] + settings['stop-timeout'] + 30
    answer = b''
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([keeper.stdout], [], [], left)[0]:
            break
        chunk = os.read(keeper.stdout.fileno(), 65536)
        if not chunk:
            break
        answer += chunk
    keeper.stdout.close()
    keeper.returncode = 0           # not ours to wait for: it lives on, init reaps it
    try:
        reply = marshal.loads(answer)
    except (ValueError, EOFError, TypeError):
        return Outcome(lifecycle.FAILED, '%s not started: its keeper gave no answer'
                       % settings['name'])
    return Outcome(reply['code'], reply['message'], reply['pid'])


def wait_gone(ident, timeout):
    deadline = time.monotonic() + timeout
    for delay in program.pauses():
        if not process.is_running(ident):
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(delay, left))


def stop(settings, files, on_purpose=True):
    """Stop through the keeper (it stops the program with the stop
    schedule and writes out its last lines), then make sure of both."""
    name = settings['name']
    warnings = []           # a full or read-only disk: stop all the same
    if on_purpose:
        lifecycle.record_or_warn(files.mark_stopped, warnings)
    adopt_if_unsupervised(settings, files)
    keeper, _ = keeper_of(files)
    record = files.read_program()
    was = record.pid if record.ident is not None and process.is_running(record.ident) else None
    if keeper is not None:
        process.send(keeper, process.signal_number('SIGTERM'))
        # The keeper's own schedule: the program's, then its leftovers'.
        schedule = 2 * (settings['stop-timeout'] + lifecycle.KILL_WAIT) + 5
        if not wait_gone(keeper, schedule):
            process.send(keeper, process.signal_number('SIGKILL'))
            wait_gone(keeper, 5)
    lifecycle.record_or_warn(files.clear_keeper, warnings)     # a dead keeper's: harmless
    stopped = lifecycle.stop(settings, files, on_purpose=False)
    if stopped.code != lifecycle.SUCCESS:
        return stopped
    warnings += stopped.message.split('; warning: ')[1:]
    if was:
        return lifecycle.with_warnings(
            Outcome(lifecycle.SUCCESS, '%s stopped (pid %d)' % (name, was), was), warnings)
    return lifecycle.with_warnings(Outcome(lifecycle.SUCCESS, '%s is not running' % name),
                                   warnings)


def restart(settings, files, only_if_running=False):
    """Restart the program, keeping the keeper that keeps it; but a keeper
    holds the settings it was started with, so after a buildout run changed
    them, the keeper is restarted too, to apply them."""
    name = settings['name']
    st = status(settings, files)
    if only_if_running and st.code != lifecycle.STATUS_RUNNING:
        return Outcome(lifecycle.SUCCESS, '%s is not running; not restarted' % name)
    files.clear_restarts()
    if st.changed:
        return restart_keeper(settings, files)
    adopt_if_unsupervised(settings, files)
    keeper, fields = keeper_of(files)
    if keeper is None:
        return start(settings, files)
    files.clear_stopped()
    return ask_restart(settings, files, keeper, fields)


def restart_keeper(settings, files):
    """Stop program and keeper (not on purpose), start both anew."""
    return lifecycle.stop_then_start(settings, files, stop, start)


def ask_restart(settings, files, keeper, fields):
    """SIGUSR2 to the keeper, then wait until its record shows the new
    program ready (or failed)."""
    name = settings['name']
    generation = int(fields.get('generation') or 0)
    was = files.read_program().pid
    process.send(keeper, process.signal_number('SIGUSR2'))
    deadline = time.monotonic() + settings['stop-timeout'] + settings['start-timeout'] + 10
    for delay in program.pauses():
        ident, fields = files.read_keeper()
        if int(fields.get('generation') or 0) > generation and fields.get('state') in (
                'running', 'failed', 'gave-up'):
            break
        if not process.is_running(keeper) or time.monotonic() >= deadline:
            return Outcome(lifecycle.FAILED, '%s: its keeper (pid %d) did not restart it%s'
                           % (name, keeper.pid, '; ' + fields['message']
                              if fields.get('message') else ''))
        time.sleep(delay)
    if fields.get('state') != 'running':
        return Outcome(lifecycle.FAILED, fields.get('message') or '%s failed to restart' % name)
    pid = int(fields['pid'])
    if was and was != pid:
        return Outcome(lifecycle.SUCCESS, '%s restarted (pid %d, was %d)' % (name, pid, was),
                       pid)
    return Outcome(lifecycle.SUCCESS, '%s started (pid %d, kept by pid %d)'
                   % (name, pid, keeper.pid), pid)


def reopen_logs(settings, files):
    """SIGUSR1 to the keeper; returns once it has taken the request (it
    goes on in the new file at once, or at the end of a line half written)."""
    keeper, fields = keeper_of(files)
    before = int(fields.get('reopens') or 0)
    if keeper is None or not process.send(keeper, process.signal_number('SIGUSR1')):
        return Outcome(lifecycle.NOT_RUNNING, '%s: no keeper runs; nothing to reopen'
                       % settings['name'])
    deadline = time.monotonic() + 5
    for delay in program.pauses():
        _, fields = files.read_keeper()
        if int(fields.get('reopens') or 0) > before:
            return Outcome(lifecycle.SUCCESS, '%s: its keeper (pid %d) reopened the logs'
                           % (settings['name'], keeper.pid))
        if time.monotonic() > deadline or not process.is_running(keeper):
            return Outcome(lifecycle.FAILED, '%s: its keeper (pid %d) did not answer'
                           % (settings['name'], keeper.pid))
        time.sleep(delay)


def send_signal(settings, signame, done):
    """Adopt a program left without its keeper, then signal it."""
    with lifecycle.locked(settings) as files:
        adopt_if_unsupervised(settings, files)
    return lifecycle.send_signal(settings, signame, done)


def reload(settings):
    """Signal the program to reload, then wait until it says it is done
    (RELOADING=1, then READY=1), as systemd's Type=notify-reload does."""
    files = lifecycle.files_of(settings)
    _, fields = files.read_keeper()
    before = int(fields.get('reloads') or 0)
    sent = send_signal(settings, settings['reload-signal'], 'reloaded')
    if sent.code != lifecycle.SUCCESS:
        return sent
    keeper, _ = keeper_of(files)
    deadline = time.monotonic() + settings['start-timeout']
    for delay in program.pauses():
        _, fields = files.read_keeper()
        if int(fields.get('reloads') or 0) > before:
            return sent
        if keeper is None or not process.is_running(keeper) or time.monotonic() > deadline:
            return Outcome(lifecycle.FAILED, '%s: signalled (pid %d) but it did not say'
                           ' RELOADING=1 then READY=1 within %gs' % (
                               settings['name'], sent.pid, settings['start-timeout']))
        time.sleep(delay)
