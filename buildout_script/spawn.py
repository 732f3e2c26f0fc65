"""``ctl spawn SECONDS [ARG...]``: one more, untracked instance of the program.

It has no PID file, so nothing would ever stop it; as supay warned, it must
carry a timeout.  A small minder process, detached from the caller, starts
the program, waits, and after SECONDS stops it (and all it started) with the
service's stop schedule.  The minder is the program's parent, so it reaps it.
"""

import os

from . import launch
from . import lifecycle
from . import process
from . import terminate
from .lifecycle import Outcome
from .program import LaunchError, mark


def spawn(settings, timeout, extra_args):
    name = settings['name']
    argv = list(settings['program'] or ()) + list(extra_args)
    answer, report = launch.detach()
    if report is not None:                              # the minder
        code = 0
        try:
            _mind(settings, argv, timeout, report)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    if answer.startswith('pid '):
        return Outcome(lifecycle.SUCCESS, '%s spawned (pid %s, stopped after %gs)'
                       % (name, answer.split()[1], timeout))
    kind, _, message = answer.partition(' ')
    return Outcome(lifecycle.LAUNCH_CODES.get(kind, lifecycle.FAILED),
                   '%s not spawned: %s' % (name, message or 'its minder died'))


def _mind(settings, argv, timeout, report):
    """Run in the detached minder: start the program, report, wait, stop."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)            # let the caller's pipes close
    launch.close_inherited(keep=(report,))
    try:
        proc = launch.launch(settings, argv)
    except LaunchError as e:
        os.write(report, ('%s %s' % (e.kind, e)).encode())
        return
    ident = process.identity(proc.pid)
    os.write(report, b'pid %d' % proc.pid)
    os.close(report)
    proc.wait(timeout)
    # Whether it ended or not, what it forked may live on.
    terminate.terminate(ident, True, settings['stop-signal'], settings['stop-timeout'],
                        mark(settings))
    proc.poll()
