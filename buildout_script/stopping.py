"""One stop schedule, on the keeper's timers: what a stop, a restart and
the end of a replaced program share.

``stop-signal`` (and SIGCONT, so a stopped process can act on it) goes to
each member of the family not yet given it; the family is looked at again
on short, growing pauses, so one forked meanwhile gets it too; after
``stop-timeout``, KILL; if something survives KILL for KILL_WAIT (stuck
in the kernel), the schedule gives up and says who.  Nothing here blocks.
"""

from . import process
from .program import pauses

KILL_WAIT = 5.0                 # after KILL, as lifecycle.KILL_WAIT


class Stopping:
    """Stop ``family()`` (a set of Identities, asked anew at each look);
    ``done()`` once it is empty, or ``stuck(members)`` if some survive
    KILL.  ``keeper`` lends later(); ``note`` says a KILL."""

    def __init__(self, keeper, settings, family, done, stuck, note):
        self.keeper, self.settings, self.family = keeper, settings, family
        self.done, self.stuck, self.note = done, stuck, note
        self.signal = process.signal_number(settings['stop-signal'])
        self.signalled = {}                 # {Identity: the last signal it got}
        self.pauses = pauses()
        self.timer = None
        self.over = False

    def begin(self):
        self.timer = self.keeper.later(self.settings['stop-timeout'], self.kill)
        self.look()

    def look(self):
        """Signal whoever has not had the signal of the moment; once
        nobody is left, done."""
        if self.over:
            return
        members = self.family()
        kill = process.signal_number('SIGKILL')
        for member in members:
            if self.signalled.get(member) != self.signal:
                process.send(member, self.signal)
                if self.signal != kill:
                    process.send(member, process.signal_number('SIGCONT'))
                self.signalled[member] = self.signal
        if members:
            self.keeper.later(next(self.pauses), self.look)
            return
        self.end()
        self.done()

    def kill(self):
        """stop-timeout is over: KILL for all that is left; then KILL_WAIT."""
        self.timer = None
        if self.over:
            return
        members = self.family()
        if members:
            self.note('%s still running after %s and %gs; sending SIGKILL' % (
                ', '.join('pid %d' % m.pid for m in sorted(members)),
                self.settings['stop-signal'], self.settings['stop-timeout']))
        self.signal = process.signal_number('SIGKILL')
        self.timer = self.keeper.later(KILL_WAIT, self.survived)
        self.look()

    def survived(self):
        self.timer = None
        if self.over:
            return
        self.end()
        self.stuck(self.family())

    def end(self):
        """No more signals or looks (done, or another schedule took over)."""
        self.over = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
