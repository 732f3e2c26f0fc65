"""Act only on the process we started: a PID file alone proves nothing.

status, pid and every command that signals believe NAME.pid only when the
identity beside it (PID, start time, boot) names the live process.
"""

import json
import sys

import pytest

import support
from support import RECORDER, alive, gone, proc, script, wait_for

pytestmark = support.linux_only


@pytest.fixture
def stranger(cleanup, tmp_path):
    """A process that is not ours, recording any signal it gets in
    tmp_path/stranger.signals; (Popen, that file)."""
    out = tmp_path / 'stranger.signals'
    popen = cleanup.popen([sys.executable, str(script(tmp_path, 'stranger.py', RECORDER)),
                           str(out), ''])
    assert wait_for(lambda: (tmp_path / 'stranger.signals.ready').exists())
    return popen, out


def test_status_json_and_pid_name_the_started_process(service):
    svc = service()
    r = svc.run('status', '--json')
    assert r.code == 3
    assert json.loads(r.out)['state'] == 'stopped'
    p = svc.start_ok()
    r = svc.run('status', '--json')
    assert r.code == 0, r
    facts = json.loads(r.out)
    assert facts['state'] == 'running' and facts['pid'] == p.pid, facts
    r = svc.run('pid')
    assert (r.code, r.out) == (0, '%d\n' % p.pid), r
    r = svc.run('status')
    assert r.code == 0 and 'running' in r.out and str(p.pid) in r.out, r


def test_identity_is_recorded_by_the_backend_the_suite_runs(service):
    """/proc gives the start in clock ticks since boot, psutil
    (BUILDOUT_SCRIPT_PSUTIL=1) in seconds since the epoch: so a run of the
    suite under psutil proves the commands used that backend."""
    svc = service()
    p = svc.start_ok()
    pid, start, boot, group = svc.identity_file.read_text().split()
    assert (int(pid), group) == (p.pid, 'group')
    assert ('.' in start) == support.PSUTIL, start


@pytest.mark.parametrize('forged', [False, True], ids=['no-identity', 'forged-identity'])
def test_pid_file_of_a_stranger_is_never_signalled(service, stranger, forged):
    popen, out = stranger
    svc = service(reload_signal='HUP')
    svc.pid_dir.mkdir()
    svc.pid_file.write_text('%d\n' % popen.pid)
    if forged:
        svc.identity_file.write_text(support.identity_line(popen.pid, later=True))

    r = svc.run('status')
    assert r.code == 1, r
    assert 'not running' in r.out and 'PID file' in r.out, r
    for action, code in ((('kill', 'TERM'), 7), (('reload',), 7), (('pid',), 1)):
        r = svc.run(*action)
        assert r.code == code, r
    r = svc.run('stop')
    assert r.code == 0, r
    assert not svc.pid_file.exists()

    assert popen.poll() is None, 'the stranger was killed'
    assert not out.exists(), 'the stranger got %s' % out.read_text()


def test_forged_start_time_makes_status_dead_and_stop_harmless(service, stranger):
    # A stranger (it does not carry the service's mark) whose PID the record
    # names, with a start time one tick off: a reused PID.
    popen, out = stranger
    p = proc(popen.pid)
    svc = service()
    svc.pid_dir.mkdir()
    svc.identity_file.write_text(support.identity_line(p.pid, later=True))
    svc.pid_file.write_text('%d\n' % p.pid)

    r = svc.run('status')
    assert r.code == 1, r
    assert 'not running' in r.out, r
    r = svc.run('stop')
    assert r.code == 0, r
    assert alive(p), 'stop killed a process its identity does not name'
    assert not out.exists(), out.read_text()


def test_start_beside_a_stranger_pid_file_starts_ours_and_spares_it(service, stranger):
    popen, out = stranger
    svc = service()
    svc.pid_dir.mkdir()
    svc.pid_file.write_text('%d\n' % popen.pid)
    ours = svc.start_ok()
    assert ours.pid != popen.pid
    assert svc.run('stop').code == 0
    assert gone(ours)
    assert popen.poll() is None and not out.exists()
