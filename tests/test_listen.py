"""Held sockets (issue 19): the keeper binds ``listen`` and hands the
sockets to each program as systemd does; a restart starts the new program
beside the old one and refuses no connection; a new program that fails
leaves the old one serving."""

import os
import socket
import stat
import threading
import time

import pytest

import support
from support import Ctl, alive, free_port, gone, proc, wait_for

pytestmark = pytest.mark.usefixtures('subreaper')

# Serves each held socket: answers every connection with its pid, the
# names it was given and a word from its environment.  Says READY=1 after
# READY_DELAY; with BROKEN set it fails as a bad deploy does.  On TERM it
# stops accepting and ends once its answers are out, as a web server's
# graceful stop does.
SERVER = r'''
import os, select, signal, socket, sys, threading, time
if os.environ.get('BROKEN'):
    print('cannot load the configuration: %s' % os.environ['BROKEN'], flush=True)
    sys.exit(3)
assert os.environ['LISTEN_PID'] == str(os.getpid()), os.environ['LISTEN_PID']
count = int(os.environ['LISTEN_FDS'])
names = os.environ['LISTEN_FDNAMES']
word = os.environ.get('WORD', '-')
stopping = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stopping.set())
time.sleep(float(os.environ.get('READY_DELAY', '0')))

def serve(sock):
    sock.setblocking(False)
    while not stopping.is_set():
        if select.select([sock], [], [], 0.05)[0]:
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                continue                    # another program took it
            conn.setblocking(True)
            conn.sendall(('%d %d %s %s\n' % (os.getpid(), count, names, word)).encode())
            conn.close()

threads = [threading.Thread(target=serve, args=(socket.socket(fileno=fd),))
           for fd in range(3, 3 + count)]
for thread in threads:
    thread.start()
print('serving %d sockets' % count, flush=True)
if os.environ.get('NOTIFY_SOCKET'):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = os.environ['NOTIFY_SOCKET']
    s.sendto(b'READY=1', '\0' + path[1:] if path.startswith('@') else path)
stopping.wait()
for thread in threads:
    thread.join()
'''


@pytest.fixture
def server(cleanup, tmp_path):
    """A factory of supervised services running SERVER on ``listen``."""
    program = support.python_program(tmp_path, 'server.py', SERVER)

    def make(listen, **options):
        options.setdefault('ready', 'notify')
        options.setdefault('stop_timeout', 5)
        return Ctl(cleanup, tmp_path, program=program, listen=listen, **options)
    return make


def ask(address):
    """The answer of whoever accepts on ``address`` (('host', port) or a
    unix path): 'PID COUNT NAMES WORD'."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(address)
        line = s.makefile().readline().strip()
    if not line:
        raise ConnectionError('closed without an answer')
    return line


class Client:
    """Connects back to back until stopped: the answers, and every failure."""

    def __init__(self, address):
        self.address, self.pids, self.failures, self.slowest = address, set(), [], 0.0
        self.count = 0
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            began = time.monotonic()
            try:
                self.pids.add(int(ask(self.address).split()[0]))
            except (OSError, ValueError) as e:
                self.failures.append(repr(e))
            self.slowest = max(self.slowest, time.monotonic() - began)
            self.count += 1

    def stop(self):
        self.running = False
        self.thread.join(15)


def test_two_addresses_are_held_and_passed_as_systemd_passes_them(server, tmp_path):
    port = free_port()
    path = str(tmp_path / 'sock' / 'web.sock')
    svc = server('127.0.0.1:%d unix:%s' % (port, path), name='web', listen_mode='0660')
    pid = svc.start_ok().pid
    assert ask(('127.0.0.1', port)) == '%d 2 web:web -' % pid
    assert ask(path) == '%d 2 web:web -' % pid
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
    r = svc.run('stop')
    assert r.code == 0, r
    assert not os.path.exists(path), 'the unix socket outlived the service'
    with pytest.raises(ConnectionRefusedError):
        ask(('127.0.0.1', port))


def test_a_restart_refuses_no_connection_and_replaces_the_program(server):
    port = free_port()
    svc = server('127.0.0.1:%d' % port, environment='READY_DELAY=0.3')
    first = svc.start_ok()
    client = Client(('127.0.0.1', port))
    try:
        for _ in range(3):
            r = svc.run('restart')
            assert r.code == 0, r
            assert 'restarted' in r.output, r
    finally:
        client.stop()
    assert client.failures == [] and client.count > 10, (client.failures[:3], client.count)
    assert gone(first)
    assert len(client.pids) >= 2, client.pids
    assert svc.read_pid() in client.pids and first.pid in client.pids


def test_a_new_program_that_fails_leaves_the_old_one_serving(server):
    port = free_port()
    svc = server('127.0.0.1:%d' % port, environment='WORD=old')
    first = svc.start_ok()
    client = Client(('127.0.0.1', port))
    try:
        r = svc.run('restart', environment='BROKEN=yes')
    finally:
        client.stop()
    assert r.code == 1, r
    assert 'not restarted' in r.output and 'pid %d serves on' % first.pid in r.output, r
    assert 'cannot load the configuration: yes' in r.output, r
    assert client.failures == [], client.failures[:3]
    assert alive(first) and svc.read_pid() == first.pid
    assert ask(('127.0.0.1', port)).endswith(' old')
    st = svc.run('status', environment='BROKEN=yes')
    assert st.code == 0 and 'pid %d' % first.pid in st.output, st
    assert 'old settings' in st.output and 'environment' in st.output, st


def test_a_new_program_never_ready_is_stopped_and_the_old_one_serves_on(server, tmp_path):
    port = free_port()
    svc = server('127.0.0.1:%d' % port, start_timeout=1, stop_timeout=1)
    first = svc.start_ok()
    r = svc.run('restart', environment='READY_DELAY=300')
    assert r.code == 1 and 'not ready' in r.output, r
    assert alive(first) and int(ask(('127.0.0.1', port)).split()[0]) == first.pid
    assert wait_for(lambda: [p.pid for p in support.running_with(str(tmp_path / 'server.py'))] == [first.pid])


def test_a_killed_program_refuses_no_connection(server):
    """Connections wait on the held socket until the next program takes
    them; only one the killed program had already accepted can be lost."""
    port = free_port()
    svc = server('127.0.0.1:%d' % port)
    first = svc.start_ok()
    client = Client(('127.0.0.1', port))
    try:
        assert wait_for(lambda: first.pid in client.pids)
        first.kill()
        assert wait_for(lambda: len(client.pids) >= 2)
    finally:
        client.stop()
    assert not any('Refused' in failure for failure in client.failures), client.failures
    assert len(client.failures) <= 1, client.failures


def test_restart_overlap_false_stops_first_and_connections_wait(server):
    port = free_port()
    svc = server('127.0.0.1:%d' % port, restart_overlap='false')
    first = svc.start_ok()
    client = Client(('127.0.0.1', port))
    try:
        r = svc.run('restart')
    finally:
        client.stop()
    assert r.code == 0, r
    assert gone(first) and client.failures == [], client.failures[:3]


def test_a_taken_port_is_named_with_its_holder(server):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        svc = server('127.0.0.1:%d' % port)
        r = svc.run('start')
    assert r.code == 6, r
    assert 'cannot listen on 127.0.0.1:%d: the address is taken by pid %d' % (
        port, os.getpid()) in r.output, r


def test_a_new_keeper_takes_the_sockets_from_the_program_it_adopts(server):
    port = free_port()
    svc = server('127.0.0.1:%d' % port)
    first = svc.start_ok()
    keeper = proc(first.ppid())
    keeper.kill()
    assert wait_for(lambda: gone(keeper))
    client = Client(('127.0.0.1', port))
    try:
        r = svc.run('restart')
    finally:
        client.stop()
    assert r.code == 0 and 'was %d' % first.pid in r.output, r
    assert client.failures == [], (client.failures[:3], svc.log.read_text())
    assert wait_for(lambda: gone(first))


@pytest.mark.parametrize('options, words', [
    ({'listen': '127.0.0.1:http'}, "--listen: expected HOST:PORT, [IPV6]:PORT or unix:PATH"),
    ({'listen': '127.0.0.1:8080', 'supervise': 'false'}, '--listen: needs supervise = true'),
    ({'listen': '127.0.0.1:8080', 'ready': 'tcp:127.0.0.1:8080'},
     'ready: tcp:127.0.0.1:8080 probes a port the keeper holds'),
])
def test_bad_listen_settings_get_one_line(server, options, words):
    svc = server(**options)
    r = svc.run('start')
    assert r.code == 2 and words in r.output, r


def low_port():
    """A port below 1024 that nothing listens on (just now), or None."""
    for port in range(1023, 900, -1):
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port))
            except OSError:
                continue
            return port
    return None


needs_privileged_ports = pytest.mark.skipif(
    open('/proc/sys/net/ipv4/ip_unprivileged_port_start').read().strip() != '1024',
    reason='ports below 1024 are not privileged here (ip_unprivileged_port_start)')


@needs_privileged_ports
@support.needs_python_for_nobody
def test_a_root_keeper_gives_a_service_run_as_nobody_a_port_below_1024(cleanup):
    base = cleanup.mkdtemp()
    program = support.program(support.python_for_nobody(),
                              support.script(base, 'server.py', SERVER))
    port = low_port()
    svc = Ctl(cleanup, base, program=program, listen='127.0.0.1:%d' % port, user='nobody',
              ready='notify')
    pid = svc.start_ok().pid
    assert proc(pid).uids().real == support.nobody().pw_uid
    assert ask(('127.0.0.1', port)).startswith('%d 1 svc' % pid)
    assert svc.run('stop').code == 0


@needs_privileged_ports
@support.needs_python_for_nobody
def test_a_port_below_1024_without_root_names_both(cleanup):
    base = cleanup.mkdtemp()
    os.chmod(base, 0o777)
    svc = Ctl(cleanup, base, program=support.program('sleep', '300'),
              listen='127.0.0.1:%d' % low_port())
    env = svc.env()
    r = svc.run('start', python=support.python_for_nobody(), cwd=base, prefix=[
        'runuser', '-u', 'nobody', '--', 'env', 'PYTHONPATH=%s' % env['PYTHONPATH'],
        '%s=%s' % (support.MARK, env[support.MARK])])
    assert r.code == 4, r
    assert ('cannot listen on %s: a port below 1024 needs root, and this runs as uid %d'
            % (svc.options['listen'], support.nobody().pw_uid)) in r.output, r
