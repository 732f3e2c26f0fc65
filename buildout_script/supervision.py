"""A supervised service (``supervise = true``), from the commands' side.

The pid dir's one keeper (keeper.py) keeps the program; a command asks it,
over its socket (wire.py), to start, stop, restart or reload the service
or to reopen its logs, and prints its answer: done, or why not.  The
first command finds no keeper and starts one.  ``status`` asks nobody: it
reads the state files and the keeper's record of the service.

The keeper is never a single point of failure: when it is gone and the
program runs on, any command that changes the service (and the check)
first starts a keeper, which takes over every service its predecessor
kept, never a second copy.  A keeper of an older version hands over the
same way: asked by a newer command, it ends, leaving the programs, and the
command starts its own.
"""

import os
import sys
import time

from . import lifecycle
from . import process
from .lifecycle import Outcome, Status
from .program import MARK_VARIABLE
from .servicefiles import KeeperFiles

TRIES = 5           # keepers started (or waited for) before a request fails


class KeptStatus(Status):
    """A Status with what the keeper says: ``keeper`` is its PID while it
    runs (else None), ``record`` its states.Record of the service."""
    __slots__ = ('keeper', 'record')


def keeper_of(files):
    """(the live keeper's Identity or None, its record of the service)."""
    ident, record = files.read_keeper()
    if ident is not None and not process.is_running(ident):
        ident = None
    return ident, record


def status(settings, files):
    st = lifecycle.status(settings, files)
    keeper, record = keeper_of(files)
    kept = KeptStatus(st.code, st.state, st.pid, st.uptime, st.message, st.changed, st.memory)
    kept.keeper, kept.record = (keeper.pid if keeper else None), record
    name = settings['name']
    if st.state == 'running' and keeper and record['state'] == 'starting':
        kept.state = 'starting'             # as the cron mode says: not ready yet
        kept.message = '%s is starting (pid %d, waiting for %s; kept by pid %d)' % (
            name, st.pid, settings['ready'] or 'it to be ready', keeper.pid)
    elif st.state == 'running':
        if keeper:
            kept.message = '%s is running (%s; kept by pid %d, restarts: %d)' % (
                name, lifecycle.running_facts(st.pid, st.uptime, st.memory), keeper.pid,
                record.get('restarts', 0))
            if record['state'] == 'replacing' and record['replacing']:
                kept.message += '; restarting: pid %d starts beside it' % record['replacing']
        else:
            kept.message = ('%s is running (%s) unsupervised: its keeper is gone;'
                            ' the next ctl command or check adopts it'
                            % (name, lifecycle.running_facts(st.pid, st.uptime, st.memory)))
    elif keeper and record['state'] == 'backoff':
        kept.message = '%s is not running (%s); its keeper (pid %d) restarts it in %ds' % (
            name, record.get('last-exit', 'exited'), keeper.pid,
            max(0, record.get('next-restart', 0) - time.time()) + 0.999)
    elif keeper and record['state'] not in (None, 'stopped'):
        kept.message = '%s is %s (kept by pid %d)' % (name, record['state'], keeper.pid)
        if record['message'] and record['state'] == 'fatal':
            kept.message += ': %s' % record['message']
    elif record['message']:
        kept.message += ' (%s)' % record['message']
    if st.changed and st.state == 'running':
        kept.message += '; old settings: restart to apply (changed: %s)' % ', '.join(st.changed)
    if record['status'] and st.state == 'running':
        kept.message += '; status: %s' % record['status']
    return kept


# -- asking the keeper -----------------------------------------------------------------

def code_identity():
    """keeper.code_identity() of this code, without importing the keeper."""
    return os.stat(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                'keeper.py')).st_mtime


def ask(command, settings, start=True, timeout=None):
    """The keeper's answer to ``command`` for the service (a dict: code,
    message, pid), a keeper started first if none runs (unless not
    ``start``: then None).  A keeper of an older version is asked to hand
    over, and one of ours started."""
    from . import wire          # here: status and the check need no socket module
    files = KeeperFiles(settings['pid-dir'])
    request = {'command': command, 'service': settings, 'environ': dict(os.environ),
               'code': code_identity()}
    if timeout is None:
        timeout = (settings['start-timeout'] + 2 * (settings['stop-timeout']
                                                    + lifecycle.KILL_WAIT) + 30)
    dir_fd = files.open_dir(create=True)
    try:
        why = 'no keeper could be started'
        for _ in range(TRIES):
            try:
                reply = wire.ask(dir_fd, request, timeout)
            except wire.NoKeeper:
                if not start:
                    return None
                retire_old_keeper(settings)
                why = start_keeper(settings['pid-dir'])
                continue
            except wire.WireError as e:
                return {'code': 1, 'message': '%s: %s' % (settings['name'], e)}
            if reply.get('outdated'):
                try:
                    wire.ask(dir_fd, {'command': 'handover', 'code': request['code']}, 30)
                except wire.WireError:
                    pass
                continue
            if reply.get('ending'):
                time.sleep(0.05)            # it is on its way out: the next one answers
                continue
            return reply
        return {'code': 1, 'message': '%s: its keeper did not answer: %s'
                % (settings['name'], why)}
    finally:
        os.close(dir_fd)


def start_keeper(pid_dir):
    """Start the pid dir's keeper (in a session of its own) and wait until
    it listens; None, or why not.  If another keeper is there first, it
    says 'busy' and goes: the next try talks to the other."""
    from .launch import spawn_apart
    # -S: no site (some 5 MiB of a resident process); our sys.path instead.
    argv = [sys.executable, '-S', '-m', 'buildout_script.keeper', pid_dir]
    env = dict(os.environ)
    env.pop(MARK_VARIABLE, None)
    env['PYTHONPATH'] = os.pathsep.join(p for p in sys.path if p)
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        keeper = spawn_apart(argv, env, write_end)
    except OSError as e:
        os.close(read_end)
        return 'cannot run the keeper: %s' % e.strerror
    finally:
        os.close(write_end)
    with open(read_end, 'rb') as pipe:
        said = pipe.readline().decode(errors='replace').strip()
    if said.startswith('listening'):
        return None                 # not ours to wait for: it lives on, init reaps it
    keeper.wait()
    if said == 'busy':
        time.sleep(0.02)
        return 'another keeper holds %s' % pid_dir
    return said[len('failed '):] if said.startswith('failed ') else \
        'the keeper ended at once (exit %d)' % keeper.returncode


def retire_old_keeper(settings):
    """A keeper of the version before this one kept one service each and
    had no socket: it is told to go with -9, which leaves the program
    running and writing into its pipe, for our keeper to take over."""
    files = lifecycle.files_of(settings)
    ident, _ = keeper_of(files)
    if ident is None:
        return
    words = process.command(ident.pid).split()
    if 'buildout_script.keeper' in words and settings['name'] in words:
        process.send(ident, process.signal_number('SIGKILL'))
        wait_gone(ident, 5)


def wait_gone(ident, timeout):
    from .program import pauses
    deadline = time.monotonic() + timeout
    for delay in pauses():
        if not process.is_running(ident):
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(delay, left))


def outcome(reply):
    """The keeper's answer as an Outcome; when it keeps nothing more, the
    command returns once it has ended (nothing of it is left)."""
    if reply.get('keeper_ends') and reply.get('keeper'):
        keeper = process.identity(reply['keeper'])
        if keeper is not None:
            wait_gone(keeper, 5)
    return Outcome(reply.get('code', 1), reply.get('message', ''), reply.get('pid'))


# -- the commands ------------------------------------------------------------------------

def start(settings, files):
    """Hand the service to the keeper; answered once it is ready (or not).
    A program that no keeper keeps and that is not running may have left
    processes (it ran in the cron mode, or under a keeper that is gone):
    they are ended first, as the cron mode's start ends them."""
    files.clear_stopped()
    keeper, _ = keeper_of(files)
    record = files.read_program()
    running = record.ident is not None and process.is_running(record.ident)
    if keeper is None and not running:
        left = lifecycle.clear_leftovers(settings, files, record)
        if left.alive:
            what = 'an earlier start' if record.pid is None else 'pid %d' % record.pid
            return Outcome(lifecycle.FAILED, '%s not started: what %s left behind survives'
                           ' KILL: %s' % (settings['name'], what, left.survivors()))
    try:
        return outcome(ask('start', settings))
    except KeyboardInterrupt:
        if not running:             # as the cron mode: an interrupted start leaves nothing
            ask('stop', settings, start=False)
        raise


def adopt_if_unsupervised(settings, files):
    """The program runs without its keeper: start a keeper, which takes it
    (and every service its predecessor kept) over.  The Outcome of that,
    or None if there was nothing to do."""
    keeper, _ = keeper_of(files)
    record = files.read_program()
    if keeper is None and record.ident is not None and process.is_running(record.ident):
        return outcome(ask('start', settings))
    return None


def stop(settings, files, on_purpose=True):
    """Stop through the keeper (the stop schedule, then its last lines
    written); without one, and with nothing kept, as the cron mode stops."""
    warnings = []           # a full or read-only disk: stop all the same
    if on_purpose:
        lifecycle.record_or_warn(files.mark_stopped, warnings)
    record = files.read_program()
    running = record.ident is not None and process.is_running(record.ident)
    reply = ask('stop', settings, start=running)
    if reply is None:
        return lifecycle.with_warnings(lifecycle.stop(settings, files, on_purpose=False),
                                       warnings)
    return lifecycle.with_warnings(outcome(reply), warnings)


def restart(settings, files, only_if_running=False):
    """A person's restart, through the keeper, with the settings of this
    script (a buildout run may have changed them: only this service is
    restarted to apply them)."""
    name = settings['name']
    if only_if_running and status(settings, files).code != lifecycle.STATUS_RUNNING:
        return Outcome(lifecycle.SUCCESS, '%s is not running; not restarted' % name)
    files.clear_restarts()
    return ask_restart(settings, files)


def ask_restart(settings, files):
    """The keeper restarts the program (a person's, or the check's for a
    hung one: the restart history is the caller's to keep)."""
    name = settings['name']
    files.clear_stopped()
    was = files.read_program().pid
    answer = outcome(ask('restart', settings))
    if answer.code == lifecycle.SUCCESS and was and answer.pid and was != answer.pid:
        answer.message = '%s restarted (pid %d, was %d)' % (name, answer.pid, was)
    return answer


def reopen_logs(settings, files):
    """The keeper goes on in new log files (at once, or at the end of a line
    half written); answered once it has."""
    reply = ask('reopen-logs', settings, start=False)
    if reply is None:
        return Outcome(lifecycle.NOT_RUNNING, '%s: no keeper runs; nothing to reopen'
                       % settings['name'])
    return outcome(reply)


def send_signal(settings, signame, done):
    """Adopt a program left without its keeper, then signal it."""
    with lifecycle.locked(settings) as files:
        adopt_if_unsupervised(settings, files)
    return lifecycle.send_signal(settings, signame, done)


def reload(settings):
    """The reload-signal, through the keeper: with ``ready = notify``,
    answered once the program said RELOADING=1, then READY=1."""
    with lifecycle.locked(settings) as files:
        adopt_if_unsupervised(settings, files)
    reply = ask('reload', settings, start=False)
    if reply is None:
        return lifecycle.send_signal(settings, settings['reload-signal'], 'reloaded')
    return outcome(reply)
