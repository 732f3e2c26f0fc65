"""The states of a kept service and the moves between them (states.py),
walked without processes, as supervisor's tests walk its process states:
the keeper's loop and the program are stand-ins here, every decision is
kept.py's own.  (The keeper's tests drive the real thing.)"""

import os
import time

import pytest

from buildout_script import config
from buildout_script import process
from buildout_script import states
from buildout_script.kept import Kept
from buildout_script.program import LaunchError
from buildout_script.states import (BACKOFF, EXITED, FATAL, RUNNING, STARTING, STOPPED,
                                    STOPPING)

NO_SUCH_PID = 1 << 23           # past any pid_max: a signal to it reaches nobody


# -- the table ------------------------------------------------------------------------

@pytest.mark.parametrize('move', sorted(states.MOVES))
def test_each_move_of_the_table_is_allowed(move):
    assert states.move(*move) == move[1]


@pytest.mark.parametrize('move', sorted(
    (a, b) for a in states.STATES for b in states.STATES if (a, b) not in states.MOVES))
def test_every_other_move_is_refused(move):
    with pytest.raises(states.MoveError, match='no move from %s to %s' % move):
        states.move(*move)


def test_every_state_can_be_reached_and_left():
    for state in states.STATES:
        assert any(b == state for a, b in states.MOVES), state
        assert any(a == state for a, b in states.MOVES), state


def test_the_record_reads_what_it_wrote_and_ignores_what_it_does_not_know():
    record = states.Record({'state': RUNNING, 'want': states.UP, 'pid': 12, 'adopted': True,
                            'next-restart': 1.5, 'message': 'a  b\nc', 'restarts': 0})
    lines = record.lines()
    assert 'message a b c' in lines and 'adopted yes' in lines and 'restarts 0' in lines
    again = states.Record.from_lines(lines + ['colour blue', 'pid twelve'])
    assert again['pid'] == 12 and again['adopted'] is True and again['next-restart'] == 1.5
    assert again['colour'] is None and again.get('reloads', 0) == 0
    assert states.Record.from_lines(['pid twelve'])['pid'] is None


# -- a kept service, with a stand-in loop and stand-in programs ------------------------------

class Timer:
    def __init__(self, action):
        self.action, self.cancelled = action, False

    def cancel(self):
        self.cancelled = True


class Loop:
    """What kept.Kept asks of keeper.Keeper, without processes or epoll."""

    def __init__(self):
        self.me = process.identity(os.getpid())
        self.children = {}
        self.timers = []
        self.notes = []

    def watch(self, fd, callback):
        pass

    def unwatch(self, fd):
        pass

    def later(self, seconds, action):
        timer = Timer(action)
        self.timers.append(timer)
        return timer

    def child(self, pid, callback):
        self.children[pid] = callback

    def forget_child(self, pid):
        self.children.pop(pid, None)

    def note(self, text):
        self.notes.append(text)

    def run_timers(self):
        """Every timer set so far, as if its time had come (a stand-in has
        no clock); those they set in turn wait for the next call."""
        timers, self.timers = self.timers, []
        for timer in timers:
            if not timer.cancelled:
                timer.cancelled = True
                timer.action()


class StandIn(Kept):
    """A Kept whose program is not a process: ``launch`` makes a pid up,
    ``left`` is what its family holds, ``moves`` every move it made."""

    def __init__(self, loop, settings, fail_launch=False):
        super().__init__(loop, settings, {})
        self.fail_launch = fail_launch
        self.left = set()
        self.moves = []
        self.pids = iter(range(NO_SUCH_PID, NO_SUCH_PID + 1000))
        self.probes = 0

    def move(self, new):
        self.moves.append((self.state, new))
        super().move(new)

    def open_pipes(self):
        pass

    def open_notify(self):
        pass

    def run_probe(self):
        """The probe is not a process either: the test judges by hand."""
        self.probes += 1

    def launch(self, record=True):
        if self.fail_launch:
            raise LaunchError('not-installed', 'program not found: nothing')
        pid = next(self.pids)
        self.adopted = False
        self.follow(pid, process.Identity(pid, '1', process.boot_id()), ours=True)
        self.generation += 1
        if record:
            self.record_program()

    def family(self, programs=None, spare=None):
        return set(self.left)

    def end(self, code=0):
        """The program ends with ``code``."""
        self.keeper.children[self.child.pid](code)


@pytest.fixture
def service(tmp_path):
    def make(fail_launch=False, **options):
        raw = {'name': 'svc', 'program': 'nothing', 'pid-dir': str(tmp_path / 'run'),
               'log-dir': str(tmp_path / 'log'), 'supervise': 'true', 'restart-delay': '0'}
        raw.update({k.replace('_', '-'): str(v) for k, v in options.items()})
        return StandIn(Loop(), config.parse(raw), fail_launch)
    return make


def answers():
    said = []
    return said, lambda code, message, pid=None: said.append((code, message))


def test_a_start_is_answered_once_ready(service):
    svc = service()
    said, reply = answers()
    svc.request_start(reply)
    assert svc.state == RUNNING and svc.moves == [(STOPPED, STARTING), (STARTING, RUNNING)]
    assert said[0][0] == 0 and said[0][1].startswith('svc started (pid ')
    assert svc.files.read_keeper()[1]['state'] == RUNNING


def test_a_start_waits_on_a_timer_until_alive_for_long_enough(service):
    svc = service(ready='alive:0.01')
    said, reply = answers()
    svc.request_start(reply)
    assert svc.state == STARTING and said == []
    time.sleep(0.02)
    svc.keeper.run_timers()
    assert svc.state == RUNNING and said[0][0] == 0


def test_an_end_by_itself_is_restarted_at_once_and_counted(service):
    svc = service()
    svc.request_start(answers()[1])
    first = svc.child
    svc.end(3)
    assert svc.state == RUNNING and svc.child != first and svc.restarts == 1
    assert svc.moves[-2:] == [(RUNNING, STARTING), (STARTING, RUNNING)]
    assert svc.last_exit == 'exited with status 3'
    assert 'restarted it' in svc.keeper.notes[-1]


def test_what_a_dead_program_left_is_stopped_before_the_restart(service):
    svc = service()
    svc.request_start(answers()[1])
    svc.left = {process.Identity(NO_SUCH_PID + 999, '1', process.boot_id())}
    svc.end(1)
    assert svc.state == STOPPING and svc.stop_then == STARTING
    svc.left = set()
    svc.keeper.run_timers()
    assert svc.state == RUNNING
    assert (RUNNING, STOPPING) in svc.moves and (STOPPING, STARTING) in svc.moves


def test_a_second_end_within_the_window_backs_off_then_restarts(service):
    svc = service(restart_delay=30)
    svc.request_start(answers()[1])
    svc.end(1)                              # the first restart is at once
    svc.end(1)
    assert svc.state == BACKOFF and svc.next_restart is not None
    assert svc.files.read_keeper()[1]['state'] == BACKOFF
    svc.keeper.run_timers()
    assert svc.state == RUNNING and (BACKOFF, STARTING) in svc.moves


def test_past_the_restart_limit_it_is_fatal_until_a_start(service):
    svc = service(restart_limit=1)
    svc.request_start(answers()[1])
    svc.end(1)
    svc.end(1)
    assert svc.state == FATAL and 'gave up after 1 restarts' in svc.message
    said, reply = answers()
    svc.files.clear_restarts()              # ctl start does so
    svc.request_start(reply)
    assert svc.state == RUNNING and said[0][0] == 0


def test_a_stop_ends_the_family_then_answers(service):
    svc = service()
    svc.request_start(answers()[1])
    pid = svc.child.pid
    svc.left = {svc.child}
    said, reply = answers()
    svc.request_stop(reply)
    assert svc.state == STOPPING and said == []
    svc.left = set()
    svc.end(-15)
    assert svc.state == STOPPED and said == [(0, 'svc stopped (pid %d)' % pid)]
    assert svc.want == states.DOWN and not os.path.exists(svc.files.keeper)


def test_a_stop_while_starting_tells_the_start(service):
    svc = service(ready='alive:100')
    started, start_reply = answers()
    stopped, stop_reply = answers()
    svc.request_start(start_reply)
    svc.request_stop(stop_reply)
    svc.keeper.run_timers()
    assert svc.state == STOPPED
    assert started == [(1, 'svc: stopped while starting')] and stopped[0][0] == 0


def test_a_stop_in_backoff_cancels_the_restart(service):
    svc = service(restart_delay=30)
    svc.request_start(answers()[1])
    svc.end(1)
    svc.end(1)
    said, reply = answers()
    svc.request_stop(reply)
    assert svc.state == STOPPED and said == [(0, 'svc is not running')]
    svc.keeper.run_timers()
    assert svc.state == STOPPED


def test_a_restart_stops_then_starts_with_the_new_settings(service):
    svc = service()
    svc.request_start(answers()[1])
    first = svc.child
    said, reply = answers()
    new = dict(svc.given, program=['something', 'else'])
    svc.request_restart(reply, new, {})
    svc.keeper.run_timers()
    assert svc.state == RUNNING and svc.child != first and svc.given is new
    assert said[0][0] == 0 and said[0][1].startswith('svc restarted (pid ')
    assert (RUNNING, STOPPING) in svc.moves and (STOPPING, STARTING) in svc.moves


def test_stopping_1_then_an_end_is_not_restarted(service):
    svc = service()
    svc.request_start(answers()[1])
    svc.said_stopping = True                # what on_notify makes of STOPPING=1
    svc.end(0)
    svc.keeper.run_timers()
    assert svc.state == EXITED and svc.files.stopped_on_purpose()
    assert svc.restarts == 0


def test_a_program_that_cannot_be_launched_is_fatal_and_the_start_told_why(service):
    svc = service(fail_launch=True)
    said, reply = answers()
    svc.request_start(reply)
    assert svc.state == FATAL and said == [(5, 'svc not started: program not found: nothing')]


def test_a_start_that_is_never_ready_fails_and_what_it_left_is_stopped(service):
    svc = service(ready='exec:false', start_timeout=0)
    said, reply = answers()
    svc.request_start(reply)
    assert svc.probes == 1 and svc.state == STARTING
    svc.judge('late', 'not ready after 0s (exec:false: false exited 1)')
    svc.keeper.run_timers()
    assert svc.state == FATAL and said[0][0] == 1
    assert said[0][1].startswith('svc failed to start: not ready after 0s')
    assert (STARTING, STOPPING) in svc.moves and (STOPPING, FATAL) in svc.moves


def test_a_new_keeper_adopts_a_program_left_running(service):
    svc = service()
    me = process.identity(os.getpid())      # a live process stands for the program
    svc.files.record_program(me, group=False)
    svc.take_over()
    assert svc.state == RUNNING and svc.adopted and svc.moves == [(STOPPED, RUNNING)]
    svc.stop_watching()


def test_a_new_keeper_restarts_a_program_that_ended_while_none_ran(service):
    svc = service()
    gone = process.Identity(NO_SUCH_PID + 1, '1', process.boot_id())
    svc.files.record_program(gone, group=True)
    svc.take_over()
    assert svc.state == RUNNING and svc.restarts == 1 and not svc.adopted
    assert svc.moves == [(STOPPED, STARTING), (STARTING, RUNNING)]
