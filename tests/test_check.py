"""bin/NAME-check, the watchdog cron runs: real services, real kills.

Each test's service is ``sleep 300`` restarted without delay unless the
test says otherwise; ``svc.crash()`` is a kill -9.
"""

import time

import pytest

import support
from support import gone, proc, started_here

pytestmark = support.linux_only


@pytest.fixture
def svc(service):
    return service(restart_delay=0)


def programs(svc):
    """The PIDs of the service's programs running now."""
    return [p.pid for p in started_here(svc.tmp)]


# -- healthy ------------------------------------------------------------------------------

def test_check_is_silent_while_healthy(svc):
    svc.start_ok()
    r = svc.check()
    assert (r.code, r.out, r.err) == (0, '', '')


def test_verbose_check_prints_one_plugin_line(svc):
    svc.start_ok()
    r = svc.check('--verbose')
    assert r.code == 0
    line, = r.out.splitlines()
    assert line.startswith('svc OK - running (pid %d, up ' % svc.read_pid())
    assert line.endswith('| uptime=0s restarts=0') or ' restarts=0' in line


# -- restarts -------------------------------------------------------------------------------

def test_check_restarts_a_killed_service_with_a_warning(svc):
    svc.start_ok()
    old = svc.read_pid()
    svc.crash()
    r = svc.check()
    assert r.code == 1
    assert r.out.startswith('svc WARNING - dead (pid %d is gone); restarted it' % old)
    assert 'restarts=1' in r.out
    assert svc.read_pid() != old
    assert programs(svc) == [svc.read_pid()]
    assert svc.run('status').code == 0


def test_check_starts_a_service_that_never_ran(svc):
    r = svc.check()
    assert r.code == 1
    assert 'not running; started it' in r.out
    assert len(programs(svc)) == 1


def test_check_restarts_a_hung_service_failing_its_probe(svc, tmp_path):
    healthy = tmp_path / 'healthy'
    healthy.touch()
    probe = 'exec:test -e %s' % healthy
    svc.start_ok()
    old = proc(svc.read_pid())
    assert svc.check(check=probe).code == 0
    healthy.unlink()
    r = svc.check(check=probe)
    assert r.code == 1, r
    assert "its check exec:test -e %s failed" % healthy in r.out
    assert svc.read_pid() != old.pid
    assert gone(old)
    assert len(programs(svc)) == 1


def test_a_history_it_cannot_understand_is_started_afresh(svc):
    svc.start_ok()
    (svc.pid_dir / 'svc.restarts').write_text('[1, "two"]\n')
    svc.crash()
    r = svc.check()
    assert r.code == 1, r
    assert 'restarts=1' in r.out


def test_three_checks_at_once_start_exactly_one_copy(svc):
    checks = [svc.popen(module='check') for _ in range(3)]
    codes = sorted(c.wait(timeout=60) for c in checks)
    assert codes == [0, 0, 1]
    assert programs(svc) == [svc.read_pid()]


# -- no restart -----------------------------------------------------------------------------

def test_a_service_stopped_on_purpose_stays_stopped(svc):
    svc.start_ok()
    assert svc.run('stop').code == 0
    r = svc.check()
    assert (r.code, r.out) == (0, '')
    assert programs(svc) == []
    assert 'stopped on purpose' in svc.check('--verbose').out
    svc.start_ok()
    svc.crash()
    assert svc.check().code == 1, 'ctl start ends the stop on purpose'


def test_no_restart_reports_a_dead_service_and_leaves_it_dead(svc):
    svc.start_ok()
    svc.crash()
    r = svc.check('--no-restart')
    assert r.code == 2
    assert r.out.startswith('svc CRITICAL - dead')
    assert programs(svc) == []


def test_no_restart_says_a_standing_trouble_once(svc):
    svc.start_ok()
    svc.crash()
    assert svc.check('--no-restart').out.startswith('svc CRITICAL - dead')
    again = svc.check('--no-restart')
    assert (again.code, again.out) == (2, '')


# -- giving up and backing off ------------------------------------------------------------------

def test_restart_limit_gives_up_and_says_so_once(svc):
    limit = dict(restart_limit=2)
    svc.start_ok()
    for _ in range(2):
        svc.crash()
        assert svc.check(**limit).code == 1
    svc.crash()
    first = svc.check(**limit)
    assert first.code == 2
    assert 'gave up after 2 restarts' in first.out
    again = svc.check(**limit)
    assert (again.code, again.out) == (2, ''), 'no mail storm'
    assert programs(svc) == []
    svc.start_ok()
    assert svc.check(**limit).code == 0


def test_given_up_stays_given_up_after_the_window(svc):
    limit = dict(restart_limit=1, restart_window=1)
    svc.start_ok()
    svc.crash()
    assert svc.check(**limit).code == 1
    svc.crash()
    assert 'gave up' in svc.check(**limit).out
    time.sleep(1.2)                      # the restart has left the window
    r = svc.check(**limit)
    assert (r.code, r.out) == (2, '')
    assert programs(svc) == []


def test_fast_repeated_failures_back_off(svc):
    delay = dict(restart_delay=600)
    svc.start_ok()
    svc.crash()
    assert svc.check(**delay).code == 1
    svc.crash()
    r = svc.check(**delay)
    assert r.code == 2
    assert 'next restart in 600s' in r.out
    assert programs(svc) == []


# -- usage ----------------------------------------------------------------------------------------

def test_bad_option_is_unknown_in_one_line_naming_it(svc):
    r = svc.check(check_timeout='soon')
    assert r.code == 3
    assert r.out.strip() == ("python -m buildout_script.check UNKNOWN - "
                             "--check-timeout: expected a number of seconds, got 'soon'")
