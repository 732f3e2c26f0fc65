"""How a program is stopped: the stop schedule.

``stop-signal`` (then SIGCONT, so a stopped program hears it at once) to
the program's process group and to every descendant that left it, a wait
of up to ``stop-timeout``, then KILL and another wait; what is still there
after that is named, never ignored.  Nothing here knows of buildout, PID
files or exit codes.
"""

import time

from . import process
from .program import pauses


class Ended:
    """What ``terminate`` ended and what survived it, as psutil's
    ``wait_procs`` says ``(gone, alive)``: Identities."""
    __slots__ = ('gone', 'alive')

    def __init__(self, gone, alive):
        self.gone, self.alive = gone, alive

    def survivors(self):
        """The survivors as words: 'pid 1234 (sleep 300), pid 1240 (...)'."""
        return ', '.join('pid %d (%s)' % (ident.pid, process.command(ident.pid))
                         for ident in sorted(self.alive))


def terminate(ident, group, signame, timeout, mark=None, kill_wait=5.0, sweep_uid=None):
    """Stop a program and everything it left: ``signame`` to its process
    group (``group``: it leads one) and stray descendants, wait up to
    ``timeout``, then KILL and wait ``kill_wait``.  An Ended.

    Members are tracked by identity from the first look on, so a grandchild
    orphaned by its parent's death is still waited for (and killed).  With
    ``sweep_uid``, every process of that user carrying ``mark`` counts too:
    what the service left in sessions of their own, even with no leader
    (``ident`` None) to start from.  Scans repeat until one finds nothing,
    so a child forked between a scan and the signals is found by the next.
    """
    tracked, seen = {}, set()
    for sig, wait in ((process.signal_number(signame), timeout),
                      (process.signal_number('SIGKILL'), kill_wait)):
        deadline = time.monotonic() + wait
        signalled = set()
        for delay in pauses():
            tracked.update(process.family(ident, group, mark))
            if sweep_uid is not None and mark:
                tracked.update(process.marked(mark, sweep_uid))
            seen.update(tracked)
            tracked = {m: g for m, g in tracked.items() if process.is_running(m)}
            if not tracked:
                return Ended(sorted(seen), [])
            _signal_once(ident, group, tracked, sig, signalled)
            now = time.monotonic()
            if now >= deadline:
                break
            time.sleep(min(delay, deadline - now))
    return Ended(sorted(seen - set(tracked)), sorted(tracked))


def _signal_once(ident, group, members, sig, signalled):
    """Signal each member not yet signalled: the group with one killpg,
    strays that left it one by one; after any signal but KILL and CONT, a
    SIGCONT the same way."""
    fresh = [m for m in members if m not in signalled]
    if not fresh:
        return
    cont = process.signal_number('SIGCONT')
    kill = process.signal_number('SIGKILL')
    sigs = (sig,) if sig in (cont, kill) else (sig, cont)
    if group and ident is not None and any(members[m] == ident.pid for m in fresh):
        if all([process.send_group(ident, s) for s in sigs]):
            signalled.update(m for m in members if members[m] == ident.pid)
    for member in fresh:
        if member not in signalled:
            for s in sigs:
                process.send(member, s)
            signalled.add(member)
