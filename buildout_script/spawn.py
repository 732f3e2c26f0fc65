"""``ctl spawn SECONDS [ARG...]``: one more, untracked instance of the program.

It has no PID file, so nothing would ever stop it; as supay warned, it must
carry a timeout.  A small keeper process, detached from the caller, starts
the program, waits, and after SECONDS stops it (and all it started) with the
service's stop schedule.  The keeper is the program's parent, so it reaps it.
"""

import os

from . import lifecycle
from . import program
from . import process
from .lifecycle import Outcome


def spawn(settings, timeout, extra_args):
    name = settings['name']
    argv = list(settings['program'] or ()) + list(extra_args)
    answer, report = program.detach()
    if report is not None:                              # the keeper
        code = 0
        try:
            _keep(settings, argv, timeout, report)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    if answer.startswith('pid '):
        return Outcome(lifecycle.SUCCESS, '%s spawned (pid %s, stopped after %gs)'
                       % (name, answer.split()[1], timeout))
    kind, _, message = answer.partition(' ')
    return Outcome(lifecycle.LAUNCH_CODES.get(kind, lifecycle.FAILED),
                   '%s not spawned: %s' % (name, message or 'the keeper died'))


def _keep(settings, argv, timeout, report):
    """Run in the detached keeper: start the program, report, wait, stop."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)            # let the caller's pipes close
    program.close_inherited(keep=(report,))
    try:
        proc = program.launch(settings, argv)
    except program.LaunchError as e:
        os.write(report, ('%s %s' % (e.kind, e)).encode())
        return
    ident = process.identity(proc.pid)
    os.write(report, b'pid %d' % proc.pid)
    os.close(report)
    import subprocess
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    # Whether it ended or not, what it forked may live on.
    program.terminate(ident, True, settings['stop-signal'], settings['stop-timeout'],
                program.mark(settings))
    proc.poll()
