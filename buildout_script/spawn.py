"""``ctl spawn SECONDS [ARG...]``: one more, untracked instance of the program.

It has no PID file, so nothing would ever stop it; as supay warned, it must
carry a timeout.  A small keeper process, detached from the caller, starts
the program, waits, and after SECONDS stops it (and all it started) with the
service's stop schedule.  The keeper is the program's parent, so it reaps it.
"""

import os
import sys

from . import control
from . import daemon
from . import process
from .control import Outcome


def spawn(settings, timeout, extra_args):
    name = settings['name']
    argv = list(settings['program'] or ()) + list(extra_args)
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    keeper = os.fork()
    if keeper == 0:                                     # the keeper
        os.close(read_end)
        code = 0
        try:
            _keep(settings, argv, timeout, write_end)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        answer = pipe.read()
    os.waitpid(keeper, 0)
    if answer.startswith('pid '):
        return Outcome(control.SUCCESS, '%s spawned (pid %s, stopped after %gs)'
                       % (name, answer.split()[1], timeout))
    kind, _, message = answer.partition(' ')
    return Outcome(control.LAUNCH_CODES.get(kind, control.FAILED),
                   '%s not spawned: %s' % (name, message or 'the keeper died'))


def _keep(settings, argv, timeout, report):
    """Run in the keeper: detach, start the program, report, wait, stop."""
    os.setsid()
    if os.fork():                       # the caller waits for this one only
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)            # let the caller's pipes close
    daemon.close_inherited(keep=(report,))
    try:
        proc = daemon.launch(settings, argv)
    except daemon.LaunchError as e:
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
    daemon.stop(ident, True, settings['stop_signal'], settings['stop_timeout'],
                daemon.mark(settings))
    proc.poll()
