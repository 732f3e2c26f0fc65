"""Is the started program ready?  One judge of ``ready`` for every waiter:
a start without a keeper (which waits here, ``wait``) and the keeper
(which asks the judge from its loop, between other work).

Forms: none (ready once started: the exec succeeded), ``notify`` (the
program sent READY=1), ``alive:SECONDS`` (still running after SECONDS),
or a probe (probe.py: tcp, http(s), exec) that must pass.  Not ready by
``start-timeout`` is a failed start.
"""

import time

from . import probe
from .program import describe_exit, pauses

READY, WAITING, LATE = 'ready', 'waiting', 'late'


class Readiness:
    """The ``ready`` setting applied to one start, from now."""

    def __init__(self, ready, timeout):
        self.ready, self.timeout = ready, timeout
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.alive_for = probe.alive_seconds(ready)

    def extend(self, seconds):
        """EXTEND_TIMEOUT_USEC=: the program asks for ``seconds`` more from now."""
        self.deadline = max(self.deadline, time.monotonic() + seconds)

    def needs_probe(self):
        """Is ``ready`` a probe (tcp, http(s), exec) to run before judging?"""
        return self.ready not in (None, 'notify') and self.alive_for is None

    def probe_timeout(self):
        """How long the next probe may take: at most 2 s, never past the deadline."""
        return max(0.05, min(self.deadline - time.monotonic(), 2.0))

    def judge(self, said_ready=False, probed=None):
        """(verdict, detail): READY; WAITING (ask again later); or LATE (not
        ready in time).  ``said_ready``: READY=1 has come (``notify``);
        ``probed``: (passed, detail) of the probe just run (needs_probe)."""
        if self.ready is None:
            return READY, 'started'
        now = time.monotonic()
        if self.ready == 'notify':
            if said_ready:
                return READY, 'sent READY=1'
            detail = 'no READY=1 yet'
        elif self.alive_for is not None:
            if now - self.started >= self.alive_for:
                return READY, 'alive for %gs' % self.alive_for
            detail = 'not yet alive for %gs' % self.alive_for
        else:
            ok, detail = probed
            if ok:
                return READY, detail
        if time.monotonic() >= self.deadline:
            return LATE, 'not ready after %gs (%s: %s)' % (self.timeout, self.ready, detail)
        return WAITING, detail


def wait(child, ready, timeout, listener=None, mark=None, uid=None):
    """For a start without a keeper: (True, detail) once the program is
    ready; (False, detail) if it dies first (detail says how) or is not
    ready within ``timeout`` seconds.  ``listener``: the socket READY=1
    comes to (``ready = notify``), taken from the program or from a process
    it started (of user ``uid``, carrying ``mark``); anyone else's is ignored."""
    readiness = Readiness(ready, timeout)
    said = False
    for delay in pauses(0.001, 0.05 if listener is None else 0.1):
        if listener is not None and not said:
            from . import notify
            said = notify.said_ready(listener, child.pid, mark, uid)
        code = child.poll()
        if code is not None:
            return False, describe_exit(code)
        probed = probe.run(ready, readiness.probe_timeout()) if readiness.needs_probe() \
            else None
        verdict, detail = readiness.judge(said, probed)
        if verdict == READY:
            return True, detail
        if verdict == LATE:
            return False, detail
        if child.poll() is not None:
            continue                    # it died meanwhile: say so, not "not ready"
        left = readiness.deadline - time.monotonic()
        if listener is not None:
            import select
            select.select([listener], [], [], max(0, min(delay, left)))
        else:
            time.sleep(max(0, min(delay, left)))
