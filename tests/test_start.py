"""start: confirm the exec, wait until the program is ready, leave exactly
one program running -- or fail saying why and leave nothing behind.

(A program that cannot be launched at all: test_launch.py.)
"""

import socket
import sys
import urllib.request

import pytest

import support
from support import (CREATOR, LISTENER, WORKERS, alive, gone, program, python_program,
                     roles, started_here, wait_for)

pytestmark = support.linux_only


# -- ready ------------------------------------------------------------------------------

def listener_ready(tmp_path):
    """A program listening on a port after 0.3 s; (options, proof it is up)."""
    port = support.free_port()
    return (dict(program=python_program(tmp_path, 'listener.py', LISTENER, port, 0.3),
                 ready='tcp:127.0.0.1:%d' % port),
            lambda: socket.create_connection(('127.0.0.1', port), timeout=10).close())


def http_ready(tmp_path):
    port = support.free_port()
    (tmp_path / 'index.html').write_text('hello')

    def serves():
        url = 'http://127.0.0.1:%d/index.html' % port
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and r.read() == b'hello'
    return (dict(program=program(sys.executable, '-m', 'http.server', '--bind',
                                 '127.0.0.1', port),
                 ready='http://127.0.0.1:%d/' % port),
            serves)


def exec_ready(tmp_path):
    flag = tmp_path / 'ready-flag'
    return (dict(program=python_program(tmp_path, 'creator.py', CREATOR, flag, 0.3),
                 ready='exec:' + program('test', '-e', flag)),
            lambda: flag.exists() or pytest.fail('%s is missing' % flag))


@pytest.mark.parametrize('ready', [listener_ready, http_ready, exec_ready],
                         ids=['tcp', 'http', 'exec'])
def test_start_returns_once_the_ready_probe_passes(service, tmp_path, ready):
    options, prove_ready = ready(tmp_path)
    service(**options).start_ok()
    prove_ready()


def test_start_with_alive_probe_returns_a_live_program(service):
    svc = service(ready='alive:0.3')
    p = svc.start_ok()
    assert alive(p)
    assert svc.run('status').code == 0


def test_start_when_running_exits_0_and_keeps_the_pid(service):
    svc = service()
    p = svc.start_ok()
    r = svc.run('start')
    assert r.code == 0 and 'already running' in r.out, r
    assert svc.read_pid() == p.pid


def test_eight_concurrent_starts_leave_one_process(service, tmp_path):
    marker = str(tmp_path / 'one.py')
    svc = service(program=python_program(tmp_path, 'one.py', CREATOR, tmp_path / 'x', 300),
                  ready='alive:0.2')
    starts = [svc.popen('start') for _ in range(8)]
    results = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in starts]
    assert [code for code, _, _ in results] == [0] * 8, results
    assert not any('Traceback' in out + err for _, out, err in results)
    running = support.running_with(marker)
    assert [p.pid for p in running] == [svc.read_pid()], results


# -- not ready: fail, say why, stop the program -------------------------------------------

def test_program_dying_during_startup_fails_with_its_last_log_lines(service):
    svc = service(program=program(sys.executable, '-c',
                                  "import sys; print('boom-marker'); sys.exit(3)"),
                  ready='tcp:127.0.0.1:%d' % support.free_port())
    r = svc.run('start')
    assert r.code == 1, r
    assert 'boom-marker' in r.err, r
    assert 'status 3' in r.err, r
    assert not svc.pid_file.exists() and not svc.identity_file.exists()
    assert svc.run('status').code == 3


def test_alive_probe_fails_a_program_that_exits_before_it(service):
    svc = service(program=program(sys.executable, '-c', 'import time; time.sleep(0.1)'),
                  ready='alive:3')
    r = svc.run('start')
    assert r.code == 1, r
    assert not svc.pid_file.exists()


def never_listening(tmp_path):
    return dict(program=python_program(tmp_path, 'never-ready.py', CREATOR,
                                       tmp_path / 'x', 300),
                ready='tcp:127.0.0.1:%d' % support.free_port()), 'not ready'


def http_404(tmp_path):
    port = support.free_port()
    return dict(program=program(sys.executable, '-m', 'http.server', '--bind',
                                '127.0.0.1', port),
                ready='http://127.0.0.1:%d/no-such-page' % port), '404'


@pytest.mark.parametrize('never_ready', [never_listening, http_404],
                         ids=['tcp-never-listening', 'http-404'])
def test_start_never_ready_fails_saying_why_and_stops_the_program(service, tmp_path,
                                                                  never_ready):
    options, why = never_ready(tmp_path)
    svc = service(start_timeout=1, **options)
    r = svc.run('start')
    assert r.code == 1, r
    assert why in r.err, r
    assert not svc.pid_file.exists() and not svc.identity_file.exists()
    assert wait_for(lambda: not started_here(tmp_path)), 'the program was left running'


# -- workers: none outlives its leader ------------------------------------------------------

def test_failed_start_leaves_no_worker_of_a_dead_leader(service, tmp_path):
    out = tmp_path / 'workers'
    source = WORKERS.replace("while True:", "if role == 'leader':\n"
                             "    time.sleep(0.2)\n    sys.exit(3)\nwhile True:")
    svc = service(program=python_program(tmp_path, 'workers.py', source, out),
                  ready='tcp:127.0.0.1:%d' % support.free_port())
    r = svc.run('start')
    assert r.code == 1, r
    assert not svc.pid_file.exists()
    worker = roles(out, 2, allow_gone=True)['worker']
    assert worker is not None
    assert wait_for(lambda: gone(worker), timeout=5), 'the worker outlived the failed start'


def test_start_after_a_crash_stops_the_leftover_worker(service, tmp_path):
    out = tmp_path / 'workers'
    svc = service(program=python_program(tmp_path, 'workers.py', WORKERS, out))
    svc.start_ok()
    first = roles(out, 2)
    first['leader'].kill()
    assert wait_for(lambda: gone(first['leader']))
    assert alive(first['worker'])
    r = svc.run('status')
    assert r.code == 1, r
    out.unlink()
    svc.start_ok()
    assert wait_for(lambda: gone(first['worker'])), 'the old worker survived a new start'
    second = roles(out, 2)
    assert second['leader'].pid != first['leader'].pid
