"""restart, try-restart and force-reload (a new process, or none for a
stopped service where LSB says so); reload and kill (a signal to the
program, which stays)."""

import pytest

import support
from support import alive, gone, proc, recorder, wait_for

pytestmark = support.linux_only


@pytest.mark.parametrize('action', ['restart', 'try-restart', 'force-reload'])
def test_restart_of_a_running_service_gives_a_new_process(service, action):
    """force-reload restarts when no reload-signal is configured."""
    svc = service()
    old = svc.start_ok()
    r = svc.run(action)
    assert r.code == 0, r
    new = proc(svc.read_pid())
    assert new.pid != old.pid and alive(new)
    assert gone(old)


@pytest.mark.parametrize('action, status', [('restart', 0), ('try-restart', 3),
                                            ('force-reload', 3)],
                         ids=['restart-starts-it', 'try-restart-leaves-it-stopped',
                              'force-reload-leaves-it-stopped'])
def test_restart_of_a_stopped_service(service, action, status):
    svc = service()
    r = svc.run(action)
    assert r.code == 0, r
    assert svc.run('status').code == status
    assert svc.pid_file.exists() == (status == 0)
    if status == 0:
        assert alive(proc(svc.read_pid()))


def test_reload_and_kill_signal_the_program_only(service, tmp_path):
    out = tmp_path / 'signals'
    svc = service(reload_signal='HUP', **recorder(tmp_path, out))
    p = svc.start_ok()
    assert svc.run('reload').code == 0
    assert svc.run('force-reload').code == 0
    assert svc.run('kill', 'USR1').code == 0
    assert svc.run('kill', 'SIGUSR2').code == 0
    assert wait_for(lambda: out.exists() and len(out.read_text().split()) == 4)
    assert out.read_text().split() == ['SIGHUP', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']
    assert alive(p) and svc.read_pid() == p.pid
