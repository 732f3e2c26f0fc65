"""What a fleet sees of a host: the metrics file for Prometheus (checked by
the real promtool and served by the real prometheus-node-exporter), and
the NRPE command (asked through the real nrpe with check_nrpe)."""

import os
import shutil
import signal
import subprocess
import sys
import urllib.request

import pytest

import support
from support import free_port, proc, wait_for

pytestmark = [support.linux_only, pytest.mark.usefixtures('subreaper')]

PROMTOOL = shutil.which('promtool')
NODE_EXPORTER = shutil.which('prometheus-node-exporter') or shutil.which('node_exporter')
NRPE = shutil.which('nrpe') or ('/usr/sbin/nrpe' if os.access('/usr/sbin/nrpe', os.X_OK)
                                else None)
CHECK_NRPE = '/usr/lib/nagios/plugins/check_nrpe'
needs_promtool = pytest.mark.skipif(
    not PROMTOOL, reason='promtool is not installed (Debian package prometheus)')
needs_node_exporter = pytest.mark.skipif(
    not NODE_EXPORTER,
    reason='node_exporter is not installed (Debian package prometheus-node-exporter)')
needs_nrpe = pytest.mark.skipif(
    not NRPE or not os.access(CHECK_NRPE, os.X_OK) or os.geteuid() != 0,
    reason='needs root, nrpe and check_nrpe (Debian packages nagios-nrpe-server and'
           ' nagios-nrpe-plugin)')


def series(text):
    """{'name{labels}': value} of an exposition text."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith('#'):
            key, _, value = line.rpartition(' ')
            found[key] = float(value)
    return found


def one(found, name, **labels):
    """The value of the one series ``name`` whose labels include ``labels``."""
    hits = [value for key, value in found.items() if key.split('{')[0] == name
            and all('%s="%s"' % kv in key for kv in labels.items())]
    assert len(hits) == 1, (name, labels, found)
    return hits[0]


def metrics_file(directory):
    files = [name for name in os.listdir(directory) if name.endswith('.prom')]
    assert len(files) == 1, files
    return os.path.join(directory, files[0])


@needs_promtool
def test_the_check_writes_metrics_promtool_accepts(service, tmp_path):
    svc = service(metrics=tmp_path / 'metrics')
    first = svc.start_ok()
    assert svc.check().code == 0
    path = metrics_file(tmp_path / 'metrics')
    text = open(path).read()
    lint = subprocess.run([PROMTOOL, 'check', 'metrics'], input=text, capture_output=True,
                          text=True)
    assert lint.returncode == 0, lint
    found = series(text)
    assert one(found, 'buildout_script_up', service='svc', pid_dir=str(svc.pid_dir)) == 1
    assert one(found, 'buildout_script_state', state='running') == 1
    assert one(found, 'buildout_script_memory_bytes') > 0
    assert abs(one(found, 'buildout_script_start_time_seconds')
               - proc(first.pid).create_time()) < 2
    first.kill()
    assert wait_for(lambda: svc.run('status').code == 1)
    assert svc.check('--no-restart').code == 2
    found = series(open(path).read())
    assert one(found, 'buildout_script_up') == 0
    assert one(found, 'buildout_script_state', state='dead') == 1
    assert svc.check().code == 1               # restarted
    found = series(open(path).read())
    assert one(found, 'buildout_script_up') == 1
    assert one(found, 'buildout_script_restarts_total') == 1
    assert not [n for n in os.listdir(tmp_path / 'metrics') if not n.endswith('.prom')]
    svc.run('stop')


def test_the_keeper_writes_metrics_at_each_change(kept, tmp_path):
    svc = kept(metrics=tmp_path / 'metrics')
    first = svc.start_ok()
    path = metrics_file(tmp_path / 'metrics')
    assert one(series(open(path).read()), 'buildout_script_state', state='running') == 1
    first.kill()
    assert wait_for(lambda: svc.status_json()['restarts'] == 1)
    found = wait_for(lambda: (lambda f: f if one(f, 'buildout_script_restarts_total') == 1
                              and one(f, 'buildout_script_up') == 1 else None)(
        series(open(path).read())))
    assert found, open(path).read()
    assert one(found, 'buildout_script_last_exit_signal') == signal.SIGKILL
    svc.run('stop')
    found = series(open(path).read())
    assert one(found, 'buildout_script_up') == 0
    assert one(found, 'buildout_script_state', state='stopped') == 1


def test_a_metrics_dir_others_can_write_is_refused_in_one_line(service, tmp_path):
    shared = tmp_path / 'shared'
    shared.mkdir()
    shared.chmod(0o777)
    svc = service(metrics=shared)
    svc.start_ok()
    r = svc.check()
    assert r.code == 0 and os.listdir(shared) == [], r
    assert support.one_line(r.err) == (
        'svc: cannot write its metrics in %s: the metrics dir %s is writable by everyone'
        ' without the sticky bit; use a directory only its owner can write (chmod go-w %s)'
        % (shared, shared, shared)), r
    svc.run('stop')


@needs_node_exporter
def test_node_exporter_serves_the_services_metrics(sample, tmp_path):
    sample.configure(support.WEB + '[db]\nrecipe = buildout_script:service\n'
                     'program = sleep 60\n'
                     '[services]\nrecipe = buildout_script:services\nmetrics = var/metrics\n')
    code, out = sample.buildout()
    assert code == 0, out
    port = free_port()
    exporter = None
    try:
        assert sample.output('bin/services', 'start')[0] == 0
        code, text, err = sample.output('bin/services', 'metrics')
        assert code == 0 and err == '', err
        assert one(series(text), 'buildout_script_up', service='db') == 1
        assert sample.output('bin/services', 'check')[0] == 0
        exporter = subprocess.Popen(
            [NODE_EXPORTER, '--web.listen-address=127.0.0.1:%d' % port,
             '--collector.disable-defaults', '--collector.textfile',
             '--collector.textfile.directory=%s' % sample.path('var', 'metrics')],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def scrape():
            try:
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                with opener.open('http://127.0.0.1:%d/metrics' % port, timeout=5) as r:
                    return r.read().decode()
            except OSError:
                return None
        served = wait_for(scrape)
        assert served, 'node_exporter did not answer'
        found = series(served)
        assert one(found, 'buildout_script_up', service='web') == 1
        assert one(found, 'buildout_script_up', service='db') == 1
        assert one(found, 'node_textfile_scrape_error') == 0
    finally:
        if exporter is not None:
            exporter.kill()
            exporter.wait()
        sample.run(['bin/services', 'stop'])


def nagios():
    import pwd
    try:
        return pwd.getpwnam('nagios')
    except KeyError:
        return None


@needs_nrpe
@support.needs_python_for_nobody
@pytest.mark.skipif(nagios() is None, reason='needs the user nagios (nagios-nrpe-server)')
def test_nrpe_asks_the_check_as_its_own_user(sample, cleanup):
    """The real nrpe (as user nagios, as it runs everywhere) runs the command
    line the part wrote: OK with perfdata while the service runs; CRITICAL,
    and no restart, once it is dead."""
    port = free_port()
    sample.configure(support.WEB + 'nrpe = etc/nrpe/web.cfg\n')
    code, out = sample.buildout()
    assert code == 0, out
    check = sample.path('bin', 'web-check')
    command = sample.read('etc/nrpe/web.cfg').splitlines()[-1]
    assert command == 'command[web]=%s --verbose --no-restart' % check
    # nagios cannot run the suite's Python (it may live under /root): the
    # generated check, with one it can, reached through directories it may enter.
    for path in (sample.dir, support.source_distribution()):
        while path != '/':
            os.chmod(path, os.stat(path).st_mode | 0o055)
            path = os.path.dirname(path)
    home = cleanup.mkdtemp()
    os.chown(home, nagios().pw_uid, nagios().pw_gid)
    include = home / 'web.cfg'
    backend = 'env BUILDOUT_SCRIPT_PSUTIL=1 ' if support.PSUTIL else ''   # as ctl's
    include.write_text(command.replace(check, '%s%s %s' % (
        backend, support.python_for_nobody(), check)) + '\n')
    config = home / 'nrpe.cfg'
    config.write_text('\n'.join([
        'pid_file=%s' % (home / 'nrpe.pid'), 'server_port=%d' % port,
        'server_address=127.0.0.1', 'allowed_hosts=127.0.0.1', 'nrpe_user=nagios',
        'nrpe_group=nagios', 'dont_blame_nrpe=0', 'command_timeout=30',
        'include=%s' % include]) + '\n')
    as_nagios = subprocess.run(['runuser', '-u', 'nagios', '--', support.python_for_nobody(),
                                check, '--verbose', '--no-restart'], capture_output=True,
                               text=True, cwd='/')
    assert as_nagios.returncode == 2 and as_nagios.stdout.startswith(
        'web CRITICAL - not running'), as_nagios
    nrpe = subprocess.Popen([NRPE, '-c', str(config), '-f'], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ask = [CHECK_NRPE, '-H', '127.0.0.1', '-p', str(port), '-c', 'web', '-t', '30']
    try:
        assert sample.output('bin/webctl', 'start')[0] == 0
        assert wait_for(lambda: listening(port))
        asked = subprocess.run(ask, capture_output=True, text=True)
        assert asked.returncode == 0, asked
        assert asked.stdout.startswith('web OK - running (pid ') and '| uptime=' in \
            asked.stdout, asked
        pid = sample.read_pid('web')
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: sample.output('bin/webctl', 'status')[0] == 1)
        asked = subprocess.run(ask, capture_output=True, text=True)
        assert asked.returncode == 2, asked
        assert asked.stdout.startswith('web CRITICAL - dead (pid %d is gone)' % pid), asked
        assert sample.output('bin/webctl', 'status')[0] == 1     # nrpe did not restart it
    finally:
        nrpe.kill()
        nrpe.wait()
        sample.run(['bin/webctl', 'stop'])


def listening(port):
    import socket
    with socket.socket() as s:
        return s.connect_ex(('127.0.0.1', port)) == 0


@pytest.mark.skipif(support.PSUTIL, reason='/proc only: the psutil backend'
                    ' (BUILDOUT_SCRIPT_PSUTIL=1) imports psutil, and psutil enum')
def test_a_healthy_check_writes_metrics_and_weighs_memory_on_what_it_loads_anyway(sample):
    """The fleet's and the guards' cost stays under 2 ms of a healthy check:
    no json (and its re), no enum (signal brings it), no argparse."""
    sample.configure(support.WEB + 'metrics = ${buildout:directory}/var/metrics\n'
                     'memory-max = 1GB\n')
    assert sample.buildout()[0] == 0
    assert sample.run(['bin/webctl', 'start'])[0] == 0
    try:
        code, out = sample.run([sys.executable, '-X', 'importtime', 'bin/web-check', '-v'])
        assert code == 0 and 'memory=' in out, out
        loaded = {line.split('|')[-1].strip() for line in out.splitlines()
                  if line.startswith('import time:')}
        assert 'buildout_script.metrics' in loaded, out
        heavy = loaded & {'json', 're', 'enum', 'argparse', 'subprocess'}
        assert not heavy, (heavy, out)
        assert sample.ls('var/metrics')
    finally:
        sample.run(['bin/webctl', 'stop'])
