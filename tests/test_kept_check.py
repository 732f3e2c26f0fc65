"""The check of a supervised service whose program runs but fails its
probe (hung): its keeper restarts the program, and stays."""

import pytest

import support
from support import gone, proc


# Orphaned daemons become pytest's children (conftest's subreaper).
pytestmark = pytest.mark.usefixtures('subreaper')


@pytest.fixture
def svc(tmp_path):
    cleanup = support.Cleanup(tmp_path)
    try:
        yield support.Ctl(cleanup, tmp_path, supervise='true', restart_delay=0,
                          program=support.program('sleep', '300'))
    finally:
        cleanup.finish()



def test_check_restarts_a_hung_program_through_its_keeper(svc, tmp_path):
    healthy = tmp_path / 'healthy'
    healthy.touch()
    probe = 'exec:test -e %s' % healthy
    first = svc.start_ok()
    keeper = svc.keeper_pid()
    assert svc.check(check=probe).code == 0
    healthy.unlink()
    r = svc.check(check=probe)
    assert r.code == 1, r
    second = svc.read_pid()
    assert r.out.startswith('svc WARNING - running (pid %d) but its check %s failed'
                            % (first.pid, probe)), r
    assert '; restarted it (pid %d) | uptime=0s restarts=1' % second in r.out, r
    assert second != first.pid and gone(first)
    assert svc.keeper_pid() == keeper and proc(second).ppid() == keeper
    assert svc.run('status').code == 0
    svc.run('stop')


def test_the_check_waits_for_check_failures_in_a_row_before_it_restarts(svc, tmp_path):
    probe = 'exec:test -e %s' % (tmp_path / 'missing')
    first = svc.start_ok()
    r = svc.check('-v', check=probe, check_failures=2)
    assert r.code == 1 and 'failure 1 of 2 before a restart' in r.out, r
    assert svc.read_pid() == first.pid
    r = svc.check(check=probe, check_failures=2)
    assert r.code == 1 and 'restarted it' in r.out, r
    assert svc.read_pid() != first.pid
    svc.run('stop')
