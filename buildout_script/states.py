"""The states of a kept service, the moves between them, and the record the
keeper writes of each service: defined once, here, for the keeper that
writes them and for status, the check and bin/services that read them.

What a person asked for (``want``: up or down) is kept apart from what the
keeper is doing (``state``), as runit keeps ``want`` apart from ``state``.

    stopped    no program, and none wanted
    starting   launched; not ready yet
    running    ready (or adopted: left running by a keeper that is gone)
    replacing  a restart with held sockets (listen): the new program starts
               beside the old one, which serves until the new one is ready
    stopping   the stop schedule runs: the program, or what a dead one left
    backoff    it ended by itself; the next start waits out restart-delay
    exited     it ended by itself after STOPPING=1: not restarted
    fatal      it cannot be kept up (restart-limit reached, a failed start,
               or it could not be launched); a start clears it

Every change of state goes through ``move``, which refuses a move that is
not in MOVES.  Unit tests walk each move without processes (as supervisor's
tests walk its process states); the keeper's tests drive real ones.
"""

STOPPED, STARTING, RUNNING, STOPPING = 'stopped', 'starting', 'running', 'stopping'
BACKOFF, EXITED, FATAL, REPLACING = 'backoff', 'exited', 'fatal', 'replacing'
STATES = (STOPPED, STARTING, RUNNING, REPLACING, STOPPING, BACKOFF, EXITED, FATAL)
UP, DOWN = 'up', 'down'

# (from, to): why.  Nothing else is a move.
MOVES = {
    (STOPPED, STARTING): 'a start',
    (EXITED, STARTING): 'a start',
    (FATAL, STARTING): 'a start (by a person, or the check)',
    (BACKOFF, STARTING): 'the restart-delay is over, or a start',
    (STOPPED, RUNNING): 'adopted: its keeper had gone, it ran on',
    (STOPPED, STOPPING): 'taken over after it ended while no keeper ran: what it left',
    (STOPPED, BACKOFF): 'taken over after it ended while no keeper ran; restart later',
    (STARTING, RUNNING): 'ready',
    (STARTING, STOPPING): 'a stop; or it failed to start: what it left is stopped',
    (STARTING, STARTING): 'it died before ready and is restarted at once',
    (STARTING, BACKOFF): 'it died before ready; restarted after restart-delay',
    (STARTING, FATAL): 'a start failed, or the restart-limit is reached',
    (RUNNING, STARTING): 'it ended by itself and is restarted at once',
    (RUNNING, STOPPING): 'a stop or a restart; or it ended and left processes',
    (RUNNING, BACKOFF): 'it ended by itself; restarted after restart-delay',
    (RUNNING, EXITED): 'it ended by itself after STOPPING=1',
    (RUNNING, FATAL): 'it ended by itself past the restart-limit',
    (RUNNING, REPLACING): 'a restart with listen: the new program starts beside the old',
    (REPLACING, RUNNING): 'the new program is ready (the old one stops); or it failed'
                          ' (the old one serves on)',
    (REPLACING, STOPPING): 'a stop while a restart overlaps: both programs stop',
    (STOPPING, STOPPED): 'what it was stopping has ended',
    (STOPPING, STARTING): 'a restart: what ran has ended',
    (STOPPING, BACKOFF): 'what a dead program left has ended; restart after delay',
    (STOPPING, EXITED): 'what it left after STOPPING=1 has ended',
    (STOPPING, FATAL): 'something survives KILL, or the restart-limit is reached',
    (BACKOFF, STOPPED): 'a stop while it waits',
    (BACKOFF, FATAL): 'it could not be launched again',
    (STOPPED, FATAL): 'it could not be launched',
    (EXITED, FATAL): 'it could not be launched',
    (FATAL, FATAL): 'it could not be launched, again',
    (EXITED, STOPPED): 'a stop',
    (FATAL, STOPPED): 'a stop',
}

# The states with no program and nothing planned: a keeper keeping only
# services in them has nothing to do, and ends.
AT_REST = (STOPPED, EXITED, FATAL)

# A program launched and not ready yet: its readiness is being waited for.
COMING_UP = (STARTING, REPLACING)


class MoveError(Exception):
    """A move that is not in MOVES: a bug in the keeper, said as such."""


def move(current, new):
    """``new`` if the move from ``current`` is in the table; else MoveError."""
    if (current, new) not in MOVES:
        raise MoveError('no move from %s to %s' % (current, new))
    return new


# -- the record: NAME.keeper ------------------------------------------------------

# field: (type, what it says).  The first line of NAME.keeper is
# "keeper PID START BOOT" (the keeper's identity); then one "field value"
# line per field that has a value.
FIELDS = {
    'want': (str, 'up or down: what a person asked for'),
    'state': (str, 'one of STATES'),
    'pid': (int, 'the program, while there is one'),
    'replacing': (int, 'the new program of a restart that overlaps, until it is ready'),
    'generation': (int, 'programs launched or adopted by this keeper'),
    'restarts': (int, 'unexpected ends restarted by this keeper'),
    'last-exit': (str, "how the last program ended ('exited with status 3')"),
    'status': (str, 'the STATUS= text the program sent'),
    'ready': (str, "'ready' or 'reloading' (sd_notify)"),
    'reloads': (int, 'reloads done (RELOADING=1, then READY=1)'),
    'reopens': (int, 'reopen-logs requests taken'),
    'adopted': (bool, 'the program was left running by a keeper that is gone'),
    'next-restart': (float, 'backoff: when (time.time()) the next start is due'),
    'message': (str, 'why it is fatal, or the last failed start'),
}


class Record:
    """The fields of NAME.keeper; a field not written reads as None."""
    __slots__ = ('values',)

    def __init__(self, values=None):
        self.values = dict(values or {})

    def get(self, field, default=None):
        value = self.values.get(field)
        return default if value is None else value

    def __getitem__(self, field):
        return self.values.get(field)

    @classmethod
    def from_lines(cls, lines):
        """From the "field value" lines; a value of the wrong form reads as None."""
        values = {}
        for line in lines:
            field, _, text = line.partition(' ')
            kind = FIELDS.get(field, (None,))[0]
            if kind is None:
                continue                    # a field of another version: ignored
            try:
                values[field] = (text == 'yes') if kind is bool else kind(text)
            except ValueError:
                pass
        return cls(values)

    def lines(self):
        """The "field value" lines, in the order of FIELDS."""
        out = []
        for field, (kind, _) in FIELDS.items():
            value = self.values.get(field)
            if value is None or value is False:
                continue
            text = 'yes' if value is True else ('%.3f' % value if kind is float else '%s' % value)
            out.append('%s %s' % (field, ' '.join(text.split())))
        return out
