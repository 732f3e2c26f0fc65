"""One service in either mode: each command goes to ``supervision`` (the
program kept by a keeper, ``supervise = true``) or to ``lifecycle`` (the
cron mode, where the PID file is all there is).

It sits above both, so that neither imports the other back: supervision
builds on lifecycle, and lifecycle knows nothing of keepers.  Supervision
is imported only for a kept service: it brings ``program``, which a
cron-mode ``status`` never needs.

A keeper that still runs after ``supervise`` was turned off keeps its
program until it is stopped: until then the commands go through it (a stop
behind its back would be undone by its restart), and ``restart`` stops
both and starts the program in the cron mode.
"""

from . import lifecycle
from . import process


def kept(settings, files):
    """True if the service's commands go through its keeper."""
    if settings.get('supervise'):
        return True
    keeper = files.keeper_identity()
    return keeper is not None and process.is_running(keeper)


def status(settings, files=None):
    """What is true now, without taking the lock."""
    files = files or lifecycle.files_of(settings)
    if kept(settings, files):
        from . import supervision
        return supervision.status(settings, files)
    return lifecycle.status(settings, files)


def start(settings, files=None):
    """Start unless it runs; wait until it is ready.  The caller holds the lock."""
    files = files or lifecycle.files_of(settings)
    if kept(settings, files):
        from . import supervision
        return supervision.start(settings, files)
    return lifecycle.start(settings, files)


def stop(settings, files=None, on_purpose=True):
    """Stop it and all it left behind.  The caller holds the lock."""
    files = files or lifecycle.files_of(settings)
    if kept(settings, files):
        from . import supervision
        return supervision.stop(settings, files, on_purpose)
    return lifecycle.stop(settings, files, on_purpose)


def restart(settings, files, only_if_running=False):
    """A person's restart.  The caller holds the lock."""
    if settings.get('supervise'):
        from . import supervision
        return supervision.restart(settings, files, only_if_running)
    if kept(settings, files):           # supervise turned off: hand over
        from . import supervision
        return lifecycle.restart(settings, files, only_if_running, supervision.stop)
    return lifecycle.restart(settings, files, only_if_running)


def send_signal(settings, signame, done):
    """Signal the program itself; a supervised program left without its
    keeper is adopted first."""
    if settings.get('supervise'):
        from . import supervision
        return supervision.send_signal(settings, signame, done)
    return lifecycle.send_signal(settings, signame, done)
