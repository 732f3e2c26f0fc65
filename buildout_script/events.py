"""``on-event``: a command of the user's, run when something happens to a
service, as superlance's crashmail is for supervisord, without a daemon.

The events: ``started`` (a start, by a person or the check, is done),
``exited`` (the program ended without being asked), ``restarted`` (the
check or the keeper started it again), ``gave-up`` (the restart limit is
reached), ``running`` (ready again after a restart by the keeper).

The command runs without a shell, as the service's ``user``, with the
service's environment and these variables: BUILDOUT_SCRIPT_EVENT,
BUILDOUT_SCRIPT_NAME, BUILDOUT_SCRIPT_PID (the program's, when there is
one), BUILDOUT_SCRIPT_EXIT (how the last program ended) and
BUILDOUT_SCRIPT_RESTARTS (restarts so far).  Its output goes to the
service's log.  It is never waited for: the keeper runs it as one more
child, the check in a process of its own; after ``on-event-timeout``
seconds it is killed, and a command that fails (cannot run, exits non-zero, is
killed) is said in the service's log, never lost.  Its environment marks
it as the service's event, so stopping the service spares it.
"""

import os
import time

from . import launch
from .program import MARK_VARIABLE, LaunchError, describe_exit

def plan(settings, event, pid=None, exit=None, restarts=None, base_env=None):
    """The launch.Plan of the command for ``event``."""
    extra = {'BUILDOUT_SCRIPT_EVENT': event, 'BUILDOUT_SCRIPT_NAME': settings['name'],
             'BUILDOUT_SCRIPT_PID': '' if pid is None else '%d' % pid,
             'BUILDOUT_SCRIPT_EXIT': exit or '',
             'BUILDOUT_SCRIPT_RESTARTS': '' if restarts is None else '%d' % restarts}
    steps = launch.plan(settings, argv=settings['on-event'], extra_env=extra, spawned=True,
                        base_env=base_env)
    steps.env[MARK_VARIABLE] = steps.env[MARK_VARIABLE].replace(' spawned', ' event')
    return steps


def failure(settings, event, code):
    """The line for a command that did not succeed (None if it did)."""
    if code == 0:
        return None
    how = 'did not end within %gs and was killed' % settings['on-event-timeout'] \
        if code is None else describe_exit(code)
    return 'on-event %s for %s %s' % (settings['on-event'][0], event, how)


def fire(settings, event, **facts):
    """From a command that is about to end (the check, ctl): the event's
    command, watched by a process of its own; returns at once."""
    if not settings.get('on-event'):
        return
    answer, report = launch.detach()
    if report is None:
        return                              # the caller: on with its work
    os.close(report)                        # the caller need not wait for us
    # Nothing of the caller's is held here: not its lock (a check fires
    # while it holds the service's), nor its output (cron, NRPE or $(...)
    # would wait for the end of this command to read the end of theirs).
    launch.close_inherited()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    try:
        run_and_watch(settings, event, facts)
    finally:
        os._exit(0)


def run_and_watch(settings, event, facts):
    """Run the command, wait for it up to on-event-timeout, say in the service's
    log what went wrong."""
    from . import logfiles
    out_path, err_path = logfiles.paths(settings)
    try:
        steps = plan(settings, event, **facts)
    except LaunchError as e:
        say(err_path, None, 'on-event %s for %s could not run: %s'
            % (settings['on-event'][0], event, e))
        return
    out = logfiles.open_for_append(out_path, steps.account)
    err = logfiles.open_for_append(err_path, steps.account) if err_path != out_path else out
    try:
        try:
            child = launch.start(steps, (out, err))
        except LaunchError as e:
            line = 'on-event %s for %s could not run: %s' % (settings['on-event'][0], event, e)
        else:
            line = failure(settings, event, child.end_within(settings['on-event-timeout']))
        if line:
            os.write(err, stamped(line))
    finally:
        os.close(out)
        if err != out:
            os.close(err)


def stamped(line):
    return ('%s %s\n' % (time.strftime('%Y-%m-%d %H:%M:%S'), line)).encode()


def say(path, account, line):
    from . import logfiles
    try:
        fd = logfiles.open_for_append(path, account)
    except (OSError, LaunchError):
        return
    try:
        os.write(fd, stamped(line))
    finally:
        os.close(fd)
