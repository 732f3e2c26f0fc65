"""``ready = notify``: programs that speak sd_notify over a real datagram socket."""

import hashlib
import os
import socket
import sys
import time

import pytest

import support
from buildout_script import notify
from support import Ctl, gone, wait_for

# A program that speaks the protocol as libsystemd's sd_notify does.
SPEAKER = '''
import os, signal, socket, sys, time

def notify(text):
    address = os.environ["NOTIFY_SOCKET"]
    if address.startswith("@"):
        address = "\\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(text.encode(), address)

mode = sys.argv[1]
if mode == "slow":
    time.sleep(0.5)
    notify("STATUS=warmed up\\nREADY=1")
elif mode == "dies":
    print("cannot open the database", flush=True)
    sys.exit(3)
elif mode == "never":
    pass
elif mode == "watchdog":
    notify("READY=1")
    for _ in range(3):
        time.sleep(0.1)
        notify("WATCHDOG=1")
elif mode == "reload":
    def reload(*_):
        notify("RELOADING=1")
        time.sleep(0.5)
        notify("READY=1\\nSTATUS=reloaded")
    signal.signal(signal.SIGHUP, reload)
    notify("READY=1")
elif mode == "mainpid":
    child = os.fork()
    if child == 0:
        time.sleep(300)
        os._exit(0)
    notify("MAINPID=%d\\nREADY=1" % child)
    time.sleep(0.3)
    sys.exit(0)
elif mode == "ticks":
    notify("READY=1")
    for i in range(3000):
        time.sleep(0.05)
        try:
            notify("STATUS=tick %d" % i)
        except OSError:             # no keeper for a while: sd_notify says so, no more
            pass
elif mode == "once":        # a STATUS= text from its first run only
    flag = sys.argv[2]
    if os.path.exists(flag):
        notify("READY=1")
    else:
        open(flag, "w").close()
        notify("STATUS=first run\\nREADY=1")
elif mode == "stopping":
    notify("READY=1")
    time.sleep(0.2)
    notify("STOPPING=1")
    sys.exit(0)
time.sleep(300)
'''


# Orphaned daemons become pytest's children (conftest's subreaper).
pytestmark = pytest.mark.usefixtures('subreaper')


@pytest.fixture
def speaker(cleanup, tmp_path):
    script = support.script(tmp_path, 'speaker.py', SPEAKER)

    def make(mode, *arguments, **options):
        options.setdefault('supervise', 'true')
        options.setdefault('restart_delay', 0)
        options.setdefault('start_timeout', 5)
        return Ctl(cleanup, tmp_path, ready='notify',
                   program=support.program(sys.executable, script, mode, *arguments), **options)
    return make


@pytest.mark.parametrize('supervise', ['true', 'false'])
def test_start_waits_for_ready_1_from_a_slow_program(speaker, supervise):
    svc = speaker('slow', supervise=supervise)
    began = time.monotonic()
    r = svc.run('start')
    assert r.code == 0, r
    assert time.monotonic() - began >= 0.5
    if supervise == 'true':
        assert svc.status_json()['status-text'] == 'warmed up'
        assert 'status: warmed up' in svc.run('status').out
    svc.run('stop')


@pytest.mark.parametrize('supervise', ['true', 'false'])
def test_start_fails_with_the_log_tail_when_it_dies_before_ready(speaker, supervise):
    svc = speaker('dies', supervise=supervise)
    r = svc.run('start')
    assert r.code == 1 and 'exited with status 3' in r.err, r
    assert 'cannot open the database' in r.err, r
    assert not svc.pid_file.exists()


def test_start_fails_when_ready_never_comes(speaker):
    svc = speaker('never', start_timeout=0.5)
    r = svc.run('start')
    assert r.code == 1 and 'not ready after 0.5s' in r.err, r
    assert not svc.pid_file.exists()
    assert svc.run('status').code == 3


def test_a_program_that_stops_pinging_its_watchdog_is_restarted(speaker):
    svc = speaker('watchdog', watchdog_timeout=0.5)
    first = svc.start_ok()
    wait_for(lambda: svc.status_json()['restarts'] >= 1)
    assert gone(first)
    st = svc.status_json()
    assert st['last-exit'] == 'killed by SIGABRT' and st['pid'] != first.pid, st
    environ = open('/proc/%d/environ' % st['pid']).read().split('\0')
    assert 'WATCHDOG_USEC=500000' in environ and 'WATCHDOG_PID=%d' % st['pid'] in environ
    svc.run('stop')


def test_reload_waits_for_reloading_then_ready(speaker):
    svc = speaker('reload', reload_signal='HUP')
    svc.start_ok()
    began = time.monotonic()
    r = svc.run('reload')
    assert r.code == 0, r
    assert time.monotonic() - began >= 0.5
    assert svc.status_json()['status-text'] == 'reloaded'
    svc.run('stop')


def test_stopping_1_then_exit_is_not_restarted(speaker):
    svc = speaker('stopping')
    program = svc.start_ok()
    wait_for(lambda: gone(program))
    wait_for(lambda: svc.run('status').code == 3)
    assert 'STOPPING=1' in svc.log.read_text()


def test_mainpid_is_followed_when_the_first_process_hands_over(speaker):
    svc = speaker('mainpid')
    r = svc.run('start')
    main = support.proc(svc.read_pid())     # already the process it named
    assert r.code == 0 and 'started (pid %d,' % main.pid in r.out, r
    st = svc.status_json()
    assert st['pid'] == main.pid and 'MAINPID=%d' % main.pid in svc.log.read_text()
    assert wait_for(lambda: main.ppid() == st['keeper'])   # its parent exited: ours
    st = svc.status_json()
    assert st['state'] == 'running' and st['restarts'] == 0 and st['pid'] == main.pid, st
    main.kill()                             # the keeper reaps it: its exit is known
    assert wait_for(lambda: svc.status_json()['restarts'] == 1)
    st = svc.status_json()
    assert st['last-exit'] == 'killed by SIGKILL' and st['pid'] != main.pid, st
    r = svc.run('stop')
    assert r.code == 0 and 'stopped (pid %d)' % st['pid'] in r.out, r


def test_a_restarted_program_does_not_inherit_the_status_text_of_the_last(speaker, tmp_path):
    svc = speaker('once', tmp_path / 'flag')
    first = svc.start_ok()
    assert svc.status_json()['status-text'] == 'first run'
    first.kill()
    assert wait_for(lambda: svc.status_json()['restarts'] == 1)
    assert wait_for(lambda: svc.status_json()['state'] == 'running')
    assert svc.status_json()['status-text'] is None
    svc.run('stop')


# -- where the pid dir is too long for a socket path: an abstract name --------

@pytest.fixture
def deep_speaker(cleanup, tmp_path):
    """As ``speaker``, with a pid dir whose NAME.notify is beyond the 107
    bytes of an AF_UNIX path, so that the socket gets an abstract name."""
    script = support.script(tmp_path, 'speaker.py', SPEAKER)
    deep = tmp_path / ('d' * 120)
    deep.mkdir()

    def make(mode, **options):
        options.setdefault('supervise', 'true')
        options.setdefault('restart_delay', 0)
        options.setdefault('start_timeout', 5)
        return Ctl(cleanup, deep, ready='notify',
                   program=support.program(sys.executable, script, mode), **options)
    return make


def predictable_name(svc):
    """The abstract name an earlier version derived from the pid dir alone."""
    path = os.fsencode(os.path.join(str(svc.pid_dir), svc.name + '.notify'))
    return '\0buildout_script/' + hashlib.sha1(path).hexdigest()[:16]


def notify_socket_of(pid):
    environ = open('/proc/%d/environ' % pid, 'rb').read().split(b'\0')
    return [e for e in environ if e.startswith(b'NOTIFY_SOCKET=')][0].decode()[14:]


def test_ready_1_is_heard_on_an_abstract_name_where_the_path_is_too_long(deep_speaker):
    svc = deep_speaker('slow', supervise='false')
    r = svc.run('start')
    assert r.code == 0 and 'started' in r.out, r
    given = notify_socket_of(svc.read_pid())
    assert given.startswith('@buildout_script/'), given
    r = svc.run('stop')
    assert r.code == 0, r


@pytest.mark.parametrize('supervise', ['true', 'false'])
def test_a_user_who_binds_the_abstract_name_first_breaks_no_start(deep_speaker, supervise):
    svc = deep_speaker('slow', supervise=supervise)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as squatter:
        squatter.bind(predictable_name(svc))
        r = svc.run('start')
        assert r.code == 0 and 'started' in r.out, r
        assert notify_socket_of(svc.read_pid()) != '@' + predictable_name(svc)[1:]
    svc.run('stop')


def test_a_keeper_that_adopts_hears_on_the_name_the_program_was_given(deep_speaker):
    svc = deep_speaker('ticks')
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as squatter:
        squatter.bind(predictable_name(svc))
        program = svc.start_ok()
    given = notify_socket_of(program.pid)
    keeper = support.proc(svc.status_json()['keeper'])
    keeper.kill()
    wait_for(lambda: gone(keeper))
    r = svc.run('start')
    assert r.code == 0 and 'adopted' in r.out, r
    seen = svc.status_json()['status-text']
    assert wait_for(lambda: svc.status_json()['status-text'] != seen, timeout=3)
    assert notify_socket_of(program.pid) == given
    svc.run('stop')


def test_each_start_draws_a_new_abstract_name(deep_speaker):
    svc = deep_speaker('ticks', supervise='false')
    svc.start_ok()
    first = notify_socket_of(svc.read_pid())
    svc.run('stop')
    svc.start_ok()
    assert notify_socket_of(svc.read_pid()) != first
    svc.run('stop')


@pytest.mark.parametrize('supervise', ['true', 'false'])
def test_no_socket_to_listen_on_is_one_line_and_exit_1(speaker, supervise):
    svc = speaker('slow', supervise=supervise)
    svc.pid_dir.mkdir(mode=0o700)
    (svc.pid_dir / 'svc.notify').mkdir()        # nothing can be bound there
    r = svc.run('start')
    assert r.code == 1, r
    assert len(r.err.strip().splitlines()) == 1, r
    assert r.err.startswith('svc not started: cannot listen for READY=1'), r
    assert 'svc.notify' in r.err and 'remove what is at that path' in r.err, r
    assert not svc.pid_file.exists()


def test_the_cron_mode_takes_ready_1_only_from_the_program(speaker):
    svc = speaker('never', supervise='false', start_timeout=1)
    p = svc.popen('start')
    assert wait_for(lambda: svc.pid_file.exists() and (svc.pid_dir / 'svc.notify').exists(),
                    timeout=5)
    time.sleep(0.1)
    notify.send(str(svc.pid_dir / 'svc.notify'), 'READY=1')    # from us, not from it
    out, err = p.communicate(timeout=10)
    assert p.returncode == 1 and 'not ready after 1s' in err, (out, err)
    assert not svc.pid_file.exists()
