"""The restart rules, one implementation for the check and the keeper.

A service that goes down is restarted; repeated restarts are spaced out
(``restart-delay``, doubling with each restart within ``restart-window``)
and given up after ``restart-limit`` restarts within the window.  Given up
stays given up, however old the restarts, until a person's ``ctl start``
clears the history.  The history lives in NAME.restarts, so the check and
the keeper count the same restarts.
"""

NOW, WAIT, GAVE_UP = 'now', 'wait', 'gave-up'


class Decision:
    """``verdict`` is NOW, WAIT (``wait`` seconds more) or GAVE_UP;
    ``recent`` the restarts within the window (before this one)."""
    __slots__ = ('verdict', 'wait', 'recent')

    def __init__(self, verdict, wait, recent):
        self.verdict, self.wait, self.recent = verdict, wait, recent


def recent_restarts(history, window, now):
    return [t for t in history.get('restarts', []) if now - t < window]


def decide(history, settings, now):
    """May the service be restarted at ``now`` (time.time())?"""
    recent = recent_restarts(history, settings['restart-window'], now)
    if history.get('gave_up') or len(recent) >= settings['restart-limit']:
        return Decision(GAVE_UP, None, recent)
    if recent:
        left = recent[-1] + settings['restart-delay'] * 2 ** (len(recent) - 1) - now
        if left > 0:
            return Decision(WAIT, left, recent)
    return Decision(NOW, 0, recent)


def give_up(history, now):
    history['gave_up'] = history.get('gave_up') or now


def record(history, decision, now):
    """Count an attempt (it counts even if it fails); the new count."""
    decision.recent.append(now)
    history['restarts'] = decision.recent
    history['total'] = history.get('total', 0) + 1     # never pruned: a counter
    return len(decision.recent)


def next_attempt(files, settings, now):
    """The one restart attempt of the check and the keeper, up to the
    relaunch: read the history, decide, and before the caller acts count
    the attempt (NOW: it counts even if it fails) or stamp the give-up
    (GAVE_UP), written back to NAME.restarts.  (Decision, history)."""
    history = files.read_restarts()
    decision = decide(history, settings, now)
    if decision.verdict == NOW:
        record(history, decision, now)
    elif decision.verdict == GAVE_UP:
        give_up(history, now)
    if decision.verdict != WAIT:
        files.write_restarts(history)
    return decision, history
