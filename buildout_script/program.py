"""What every step with a program shares: the error that says why it could
not be started, the mark its processes carry, how its end is said, and how
long to wait between two looks at it.

Where a program is started: launch.py; the account and environment it gets:
account.py; its logs: logfiles.py and logpipes.py; whether it is ready:
readiness.py; how it is stopped: terminate.py.  Nothing here knows of
buildout, PID files or exit codes.
"""

import os


class LaunchError(Exception):
    """The program could not be started; ``kind`` says why."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind        # 'not-installed', 'not-configured', 'permission'


MARK_VARIABLE = 'BUILDOUT_SCRIPT_SERVICE'
# Which launch by the keeper (KEEPERPID-GENERATION): the two programs of a
# restart that overlaps carry the same service mark, and this tells them apart.
LAUNCH_VARIABLE = 'BUILDOUT_SCRIPT_LAUNCH'


def mark(settings):
    """``NAME=VALUE`` in the environment of every program we start, so that
    what it leaves behind can be told from a stranger's (process.family)."""
    return '%s=%s' % (MARK_VARIABLE, os.path.join(settings['pid-dir'], settings['name']))


def format_bytes(count):
    """A size as a person reads it: 812 KiB, 12.3 MiB, 1.02 GiB."""
    if count < 1024 * 1024:
        return '%d KiB' % (count // 1024)
    if count < 1024 ** 3:
        return '%.1f MiB' % (count / 1024 ** 2)
    return '%.2f GiB' % (count / 1024 ** 3)


def describe_exit(code):
    """How a program ended, from its exit code (negative: the signal)."""
    if code < 0:
        import signal
        try:
            return 'killed by %s' % signal.Signals(-code).name
        except ValueError:
            return 'killed by signal %d' % -code
    return 'exited with status %d' % code


def pauses(first=0.001, longest=0.05):
    """Poll intervals: milliseconds at first, growing, never a fixed second."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 1.5, longest)
