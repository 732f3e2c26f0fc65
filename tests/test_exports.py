"""Exports: files for the machine's own managers, written by real buildout runs.

systemd units are checked with ``systemd-analyze verify`` (and their command
lines read back from its debug dump, as systemd parsed them), logrotate
stanzas with the real ``logrotate -d`` and a forced rotation, supervisord
includes with supervisor's own parser where it is importable (always with a
configparser that reads as supervisord does), and the LSB header of the ctl
with a strict parser written from the LSB specification.  Nothing here starts
a manager: these are files for someone else's.
"""

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from buildout_script.recipes import logrotate, supervisor
from buildout_script.recipes import systemd

SYSTEMD_ANALYZE = shutil.which('systemd-analyze')
LOGROTATE = shutil.which('logrotate') or (
    '/usr/sbin/logrotate' if os.access('/usr/sbin/logrotate', os.X_OK) else None)
needs_systemd_analyze = pytest.mark.skipif(
    not SYSTEMD_ANALYZE, reason='systemd-analyze is not installed (Debian package systemd)')
needs_logrotate = pytest.mark.skipif(
    not LOGROTATE, reason='logrotate is not installed (Debian package logrotate)')


def service(name, options='', program=None):
    program = program or '%s -c "import time; time.sleep(600)"' % sys.executable
    return '[%s]\nrecipe = buildout_script:service\nprogram = %s\n%s' % (
        name, program, options)


def run_buildout(sample, home):
    """bin/buildout with HOME in a temporary directory (systemctl --user's place)."""
    env = dict(os.environ, HOME=str(home))
    env.pop('XDG_CONFIG_HOME', None)
    return sample.run([sample.path('bin', 'buildout')], env=env)


def settings(**changes):
    """A settings dict as config.parse makes it, for the renderers alone."""
    from buildout_script import config
    values = config.parse({'name': 'web', 'program': ['/bin/sleep', '600']}, base='/srv/site')
    values.update(changes)
    return values


# -- systemd -------------------------------------------------------------------

def verify(unit_path):
    """(exit code, output) of systemd-analyze verify, with its debug dump."""
    env = dict(os.environ, SYSTEMD_LOG_LEVEL='debug')
    result = subprocess.run([SYSTEMD_ANALYZE, 'verify', '--man=no', unit_path],
                            cwd=os.path.dirname(unit_path), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    return result.returncode, result.stdout


def problems(output, unit_name):
    """The lines of verify's output that complain about our unit."""
    return [line for line in output.splitlines()
            if unit_name in line and re.search(r'(?i)warn|ignor|invalid|fail|unknown|error',
                                               line)
            and 'Failed to read $container' not in line]


def parse_dump_words(text):
    """The argv of systemd's "Command Line:" dump (shell-like, C escapes in quotes)."""
    words, i = [], 0
    while i < len(text):
        if text[i] == ' ':
            i += 1
            continue
        word, quoted = [], False
        while i < len(text) and (quoted or text[i] != ' '):
            c = text[i]
            if c == '"':
                quoted = not quoted
            elif c == '\\':
                i += 1
                c = text[i]
                if c == 'x':
                    word.append(chr(int(text[i + 1:i + 3], 16)))
                    i += 2
                else:
                    word.append({'n': '\n', 't': '\t', 'r': '\r'}.get(c, c))
            else:
                word.append(c)
            i += 1
        words.append(''.join(word))
    return words


def exec_start_as_parsed(dump):
    """ExecStart's argv as systemd stored it; ``$$`` is ``$`` at exec time."""
    lines = dump.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == '-> ExecStart:')
    line = next(line for line in lines[start:] if 'Command Line:' in line)
    text = line.split('Command Line: ', 1)[1]
    return [word.replace('$$', '$') for word in parse_dump_words(text)]


def dumped(dump, key):
    return [line.split(': ', 1)[1] for line in dump.splitlines()
            if line.strip().startswith(key + ':')]


@needs_systemd_analyze
def test_user_unit_is_written_verified_linked_and_removed(sample, tmp_path):
    sample.configure(service('web', 'systemd = user\nsystemd-install = true\n'
                             'environment = GREETING=hello world\nstop-timeout = 2.5\n'
                             'reload-signal = HUP\numask = 027\n'))
    code, out = run_buildout(sample, tmp_path)
    assert code == 0, out
    unit = sample.path('etc', 'systemd', 'web.service')
    text = sample.read('etc/systemd/web.service')
    for line in ['Type=exec', 'WorkingDirectory=%s' % sample.dir,
                 'Environment="GREETING=hello world"', 'UMask=0027',
                 'KillMode=control-group', 'KillSignal=SIGTERM', 'TimeoutStopSec=2.5',
                 'Restart=always', 'RestartSec=10', 'StartLimitBurst=6',
                 'StartLimitIntervalSec=3600', 'WantedBy=default.target',
                 'StandardOutput=append:%s' % sample.path('var', 'log', 'web.log')]:
        assert line in text.splitlines(), line
    assert re.search(r'^ExecReload=/\S*kill -HUP \$MAINPID$', text, re.M)
    assert not re.search('^(User|PIDFile)=', text, re.M)

    code, dump = verify(unit)
    assert code == 0, dump
    assert problems(dump, 'web.service') == []
    assert exec_start_as_parsed(dump) == [sys.executable, '-c', 'import time; time.sleep(600)']
    assert 'GREETING=hello world' in dumped(dump, 'Environment')

    link = tmp_path / '.config' / 'systemd' / 'user' / 'web.service'
    assert os.readlink(link) == unit

    before = os.stat(unit)
    code, out = run_buildout(sample, tmp_path)
    assert code == 0, out
    after = os.stat(unit)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    sample.configure(service('web', 'systemd = user\nsystemd-install = true\n'
                             'stop-timeout = 86400\n'))
    code, out = run_buildout(sample, tmp_path)
    assert code == 0, out
    assert 'TimeoutStopSec=86400' in sample.read('etc/systemd/web.service').splitlines()
    assert os.readlink(link) == unit

    sample.configure('', parts=[])
    code, out = run_buildout(sample, tmp_path)
    assert code == 0, out
    assert not os.path.lexists(unit) and not os.path.lexists(link)


@needs_systemd_analyze
def test_exec_start_and_environment_survive_systemds_quoting(sample, tmp_path):
    odd = ['two words', 'it\'s "quoted"', '50%', '$HOME', 'a$', '$(x)', ';', 'back\\slash',
           'tab\there', 'caf\u00e9', '']
    program = ' '.join(shlex.quote(word) for word in ['/bin/echo'] + odd)
    sample.configure(service('odd', 'systemd = user\nenvironment =\n'
                             '    A=50% of $HOME "and" \\ more\n', program=program))
    code, out = run_buildout(sample, tmp_path)
    assert code == 0, out
    code, dump = verify(sample.path('etc', 'systemd', 'odd.service'))
    assert code == 0, dump
    assert problems(dump, 'odd.service') == []
    assert exec_start_as_parsed(dump) == ['/bin/echo'] + odd
    assert 'A=50% of $HOME "and" \\ more' in dumped(dump, 'Environment')


@needs_systemd_analyze
def test_environment_file_is_read_by_systemd_and_named_for_supervisord(sample, tmp_path):
    sample.write('secret.env', 'TOKEN=s3cret\n')
    sample.configure(service('web', 'systemd = user\nsupervisor = etc/web.conf\n'
                             'environment-file = secret.env\n'))
    code, out = run_buildout(sample, tmp_path)
    assert code == 0, out
    unit = sample.path('etc', 'systemd', 'web.service')
    assert 'EnvironmentFile=%s' % sample.path('secret.env') in sample.read(
        'etc/systemd/web.service').splitlines()
    code, dump = verify(unit)
    assert code == 0, dump
    assert problems(dump, 'web.service') == []
    assert 's3cret' not in sample.read('etc/systemd/web.service')
    assert 's3cret' not in sample.read('etc/web.conf')
    assert 'web: etc/web.conf does not express environment-file = %s: supervisord reads' \
        ' no file of variables' % sample.path('secret.env') in out


@needs_systemd_analyze
def test_system_unit_runs_as_the_user_and_names_what_systemd_cannot_express(sample,
                                                                             tmp_path):
    sample.configure(service('web', 'systemd = system\nuser = nobody\n'
                             'ready = http://127.0.0.1:8080/\n'
                             'check = tcp:127.0.0.1:8080\nrestart-delay = 3\n'))
    code, out = run_buildout(sample, tmp_path)
    assert code == 0, out
    text = sample.read('etc/systemd/web.service')
    assert 'User=nobody' in text.splitlines()
    assert 'WantedBy=multi-user.target' in text.splitlines()
    assert 'Type=exec' in text.splitlines()
    for said in ('ready = http://127.0.0.1:8080/: systemd does not run this probe',
                 'check = tcp:127.0.0.1:8080: systemd runs no health probe',
                 'restart-delay = 3: systemd waits RestartSec=3'):
        assert '#   ' + said in text
        assert 'web: etc/systemd/web.service does not express ' + said in out
    code, dump = verify(sample.path('etc', 'systemd', 'web.service'))
    assert code == 0, dump
    assert problems(dump, 'web.service') == []
    assert not (tmp_path / '.config').exists()      # no systemd-install, no link


def test_ready_notify_makes_a_notify_unit():
    # config.parse does not take ready = notify on this branch yet: the unit's
    # logic alone, from a settings dict that has it.
    text, notes = systemd.unit(settings(ready='notify', **{'start-timeout': 30.0}),
                               ['/bin/sleep', '600'], 'user', 'web', '/srv/site',
                               ('/srv/site/var/log/web.log',) * 2, 'MARK=x')
    assert 'Type=notify' in text.splitlines()
    assert 'TimeoutStartSec=30' in text.splitlines()
    assert not any(note.startswith('ready') for note in notes)
    text, notes = systemd.unit(settings(ready='alive:2'), ['/bin/sleep', '600'], 'user',
                               'web', '/srv/site', ('/x.log', '/x.log'), 'MARK=x')
    assert 'Type=exec' in text.splitlines() and 'TimeoutStartSec' not in text
    assert any(note.startswith('ready = alive:2') for note in notes)


@needs_systemd_analyze
def test_listen_writes_a_socket_unit_that_systemd_verifies(sample, tmp_path):
    sample.configure(service('web', 'systemd = user\nsystemd-install = true\n'
                             'ready = notify\nlisten-mode = 0660\n'
                             'listen = 127.0.0.1:8080 [::1]:8080 unix:var/web.sock\n'))
    code, out = run_buildout(sample, tmp_path)
    assert code == 0, out
    assert 'web.socket does not express' not in out, out
    assert 'restart-overlap: systemd stops the old program' in out, out
    service_text = sample.read('etc/systemd/web.service').splitlines()
    assert {'Requires=web.socket', 'After=web.socket', 'Sockets=web.socket'} <= set(
        service_text)
    unit = sample.path('etc', 'systemd', 'web.socket')
    lines = sample.read('etc/systemd/web.socket').splitlines()
    for line in ['ListenStream=127.0.0.1:8080', 'ListenStream=[::1]:8080',
                 'ListenStream=%s' % sample.path('var', 'web.sock'), 'SocketMode=0660',
                 'FileDescriptorName=web', 'Service=web.service', 'WantedBy=sockets.target']:
        assert line in lines, line
    code, dump = verify(unit)
    assert code == 0, dump
    assert problems(dump, 'web.socket') == [] and problems(dump, 'web.service') == []
    assert dumped(dump, 'FileDescriptorName') == ['web']
    link = tmp_path / '.config' / 'systemd' / 'user' / 'web.socket'
    assert os.readlink(link) == unit
    sample.configure('', parts=[])
    code, out = run_buildout(sample, tmp_path)
    assert code == 0, out
    assert not os.path.lexists(unit) and not os.path.lexists(link)


@needs_systemd_analyze
def test_limits_nice_and_oom_score_become_the_units_own(sample, tmp_path):
    sample.configure(service('web', 'systemd = user\n'
                             'limits = nofile=65536 core=0 nproc=256:512 as=2G\n'
                             'nice = 5\noom-score-adjust = 300\nmemory-max = 512MB\n'))
    code, out = run_buildout(sample, tmp_path)
    assert code == 0, out
    lines = sample.read('etc/systemd/web.service').splitlines()
    for line in ['LimitNOFILE=65536', 'LimitCORE=0', 'LimitNPROC=256:512',
                 'LimitAS=2147483648', 'Nice=5', 'OOMScoreAdjust=300',
                 'MemoryMax=536870912']:
        assert line in lines, line
    code, dump = verify(sample.path('etc', 'systemd', 'web.service'))
    assert code == 0, dump
    assert problems(dump, 'web.service') == []
    assert dumped(dump, 'Nice') == ['5'] and dumped(dump, 'OOMScoreAdjust') == ['300']
    assert 'memory-max = 536870912: systemd\'s MemoryMax= counts all the memory' in out, out
    assert dumped(dump, 'LimitNOFILE') == ['65536'] and dumped(dump, 'LimitNOFILESoft') == [
        '65536']
    assert dumped(dump, 'LimitNPROC') == ['512'] and dumped(dump, 'LimitNPROCSoft') == ['256']


def test_supervisor_include_names_the_limits_it_cannot_set():
    text, notes = supervisor.program_section(
        settings(limits={'nofile': [1024, 1024]}, nice=5, **{'restart-limit': 0}),
        ['/bin/sleep', '600'], 'web',
        '/srv/site', ('/x.log', '/x.log'), 'MARK=x')
    assert notes[-1] == (
        'limits = nofile=1024, nice = 5: supervisord sets no limits, priority or OOM score'
        ' for a program (its minfds and minprocs are its own); wrap the command in'
        ' prlimit, nice or choom to have them'), notes
    assert '; Not expressed here:' in text and 'prlimit' in text


def test_no_restarts_allowed_is_restart_no():
    text, notes = systemd.unit(settings(**{'restart-limit': 0}), ['/bin/sleep', '600'],
                               'user', 'web', '/srv/site', ('/x.log', '/x.log'), 'MARK=x')
    assert 'Restart=no' in text.splitlines() and 'StartLimitBurst' not in text


def test_system_units_link_into_etc():
    assert systemd.link_path('system', '/srv/site/etc/systemd/web.service') == \
        '/etc/systemd/system/web.service'


def test_a_file_in_the_way_of_the_link_is_an_error_and_left_alone(sample, tmp_path):
    own = tmp_path / '.config' / 'systemd' / 'user' / 'web.service'
    own.parent.mkdir(parents=True)
    own.write_text('[Service]\nExecStart=/bin/true\n')
    sample.configure(service('web', 'systemd = user\nsystemd-install = true\n'))
    code, out = run_buildout(sample, tmp_path)
    assert code != 0
    assert ("Error: Part 'web', option 'systemd-install': %s already exists and is not"
            " a link to %s" % (own, sample.path('etc', 'systemd', 'web.service'))) in out
    assert 'Traceback' not in out
    assert own.read_text() == '[Service]\nExecStart=/bin/true\n'


@pytest.mark.parametrize('options, option, message', [
    ('systemd = yes\n', 'systemd', "expected user or system, got 'yes'"),
    ('systemd-install = true\n', 'systemd-install', "needs option 'systemd'"),
    ('systemd = user\nsystemd-install = maybe\n', 'systemd-install',
     "expected true or false, got 'maybe'"),
    ('logrotate = daily {\n', 'logrotate', 'give logrotate directives without braces'),
])
def test_bad_export_options_name_the_option(sample, options, option, message):
    sample.configure(service('web', options))
    code, out = sample.buildout()
    assert code != 0
    assert "Error: Part 'web', option '%s': %s" % (option, message) in out
    assert 'Traceback' not in out


# -- logrotate -----------------------------------------------------------------

def test_shorthand_and_directives():
    assert logrotate.directives('daily 14') == ['daily', 'rotate 14']
    assert logrotate.directives('weekly\nrotate 4\ncompress') == ['weekly', 'rotate 4',
                                                                  'compress']


@needs_logrotate
def test_logrotate_copies_and_truncates_in_cron_mode(sample, tmp_path):
    # A space and a glob character: quoted and escaped, so a sibling that the
    # glob would match is left alone.
    sample.configure(service('web', 'logrotate = daily 14\nlog-dir = var/my logs*\n'
                             'stderr = errors.log\n'))
    code, out = sample.buildout()
    assert code == 0, out
    conf = sample.path('etc', 'logrotate.d', 'web')
    text = sample.read('etc/logrotate.d/web')
    out_log, err_log = sample.path('var', 'my logs*', 'web.log'), sample.path(
        'var', 'my logs*', 'errors.log')
    assert text.splitlines()[2:] == [
        '"%s" "%s" {' % (out_log.replace('*', '\\*'), err_log.replace('*', '\\*')),
        '    daily', '    rotate 14',
        '    missingok', '    copytruncate', '}']
    result = subprocess.run([LOGROTATE, '-d', '-s', str(tmp_path / 'state'), conf],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    assert not re.search('(?im)^error', result.stderr + result.stdout)

    with open(out_log, 'w') as f:
        f.write('line one\n')
    sample.write('var/my logs2/web.log', 'not ours\n')
    result = subprocess.run([LOGROTATE, '-f', '-s', str(tmp_path / 'state'), conf],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    with open(out_log + '.1') as f:
        assert f.read() == 'line one\n'
    assert os.path.getsize(out_log) == 0        # truncated in place, same file
    assert sample.ls('var/my logs2') == ['web.log']


@needs_logrotate
def test_logrotate_reopens_through_ctl_in_supervised_mode(sample, tmp_path):
    sample.configure(service('web', 'logrotate =\n    weekly\n    rotate 4\n    compress\n'
                             'supervise = true\n'))
    code, out = sample.buildout()
    assert code == 0, out
    text = sample.read('etc/logrotate.d/web')
    assert text.splitlines()[3:] == [
        '    weekly', '    rotate 4', '    compress', '    missingok', '    sharedscripts',
        '    postrotate', '        %s reopen-logs' % sample.path('bin', 'webctl'),
        '    endscript', '}']
    assert 'copytruncate' not in text
    result = subprocess.run([LOGROTATE, '-d', '-s', str(tmp_path / 'state'),
                             sample.path('etc', 'logrotate.d', 'web')],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout


def test_users_own_way_of_reopening_is_kept():
    text = logrotate.stanza('web', 'web', '/srv', ['/x.log'], ['daily', 'copy'])
    assert 'copytruncate' not in text and 'postrotate' not in text


# -- supervisord ---------------------------------------------------------------

def read_as_supervisord(path):
    """The [program:...] section as supervisord's config parser reads it."""
    parser = configparser.RawConfigParser(inline_comment_prefixes=(';', '#'),
                                          strict=False)
    parser.read(path)
    (section,) = parser.sections()
    return section, {key: value % {} for key, value in parser.items(section)}


def environment_as_supervisord(text):
    """supervisor.datatypes.dict_of_key_value_pairs, as it is."""
    lexer = shlex.shlex(text)
    lexer.wordchars += '/.+-():'
    tokens = list(lexer)
    return {tokens[i]: tokens[i + 2].strip('\'"') for i in range(0, len(tokens), 4)}


def test_supervisor_include_has_every_setting(sample):
    odd = ['a ;b', 'c #d', '50%', 'e"f', "g'h"]
    program = ' '.join(shlex.quote(word) for word in ['/bin/echo'] + odd)
    sample.configure(service('web', 'supervisor = etc/supervisor/web.conf\n'
                             'ready = alive:1.5\nstop-signal = INT\numask = 022\n'
                             'user = nobody\nenvironment = A=x;y#z\n    B=50%\n',
                             program=program))
    code, out = sample.buildout()
    assert code == 0, out
    path = sample.path('etc', 'supervisor', 'web.conf')
    section, values = read_as_supervisord(path)
    assert section == 'program:web'
    assert shlex.split(values['command']) == ['/bin/echo'] + odd
    assert environment_as_supervisord(values['environment']) == {
        'A': 'x;y#z', 'B': '50%',
        'BUILDOUT_SCRIPT_SERVICE': sample.path('var', 'run', 'web')}
    assert values['directory'] == sample.dir
    assert values['user'] == 'nobody' and values['umask'] == '022'
    assert values['startsecs'] == '2'           # whole seconds, rounded up
    assert values['stopsignal'] == 'INT' and values['stopwaitsecs'] == '10'
    assert values['stopasgroup'] == values['killasgroup'] == 'true'
    assert values['autorestart'] == 'true'
    assert values['stdout_logfile'] == sample.path('var', 'log', 'web.log')
    assert values['stdout_logfile_maxbytes'] == '0' and values['redirect_stderr'] == 'true'
    assert 'web: etc/supervisor/web.conf does not express ready = alive:1.5:' \
        ' supervisord counts whole seconds; 2 here' in out


def test_supervisor_include_names_the_sockets_it_cannot_hold(sample):
    sample.configure(service('web', 'supervisor = etc/supervisor/web.conf\n'
                             'listen = 127.0.0.1:8080\nready = notify\n'))
    code, out = sample.buildout()
    assert code == 0, out
    assert 'web: etc/supervisor/web.conf does not express listen = 127.0.0.1:8080:' \
        ' supervisord holds no sockets for a program' in out, out
    assert 'listen = 127.0.0.1:8080: supervisord' in sample.read('etc/supervisor/web.conf')


def test_supervisor_include_loads_in_supervisord(sample, tmp_path):
    options = pytest.importorskip(
        'supervisor.options', reason='supervisor is not importable here: its own parser'
        ' is not run (the configparser test above still is)')
    sample.configure(service('web', 'supervisor = etc/supervisor/web.conf\n'
                             'environment = A=x;y\nstderr = err.log\n',
                             program='/bin/echo "a ;b" 50%'))
    code, out = sample.buildout()
    assert code == 0, out
    conf = tmp_path / 'supervisord.conf'
    conf.write_text('[supervisord]\nlogfile=%s\npidfile=%s\n[include]\nfiles = %s\n' % (
        tmp_path / 'log', tmp_path / 'pid', sample.path('etc', 'supervisor', 'web.conf')))
    server = options.ServerOptions()
    server.realize(args=['-c', str(conf)])
    (group,) = server.process_group_configs
    (config,) = group.process_configs
    assert shlex.split(config.command) == ['/bin/echo', 'a ;b', '50%']
    assert config.environment['A'] == 'x;y'
    assert config.stderr_logfile == sample.path('var', 'log', 'err.log')
    assert config.stopasgroup and config.killasgroup


def test_what_supervisord_would_read_otherwise_is_refused(sample):
    sample.configure(service('web', 'supervisor = etc/web.conf\nenvironment = A=x ;y\n'))
    code, out = sample.buildout()
    assert code != 0
    assert ("Error: Part 'web', option 'supervisor': supervisord cannot read the"
            " environment variable A='x ;y' as it is") in out
    assert 'Traceback' not in out
    assert not os.path.exists(sample.path('etc', 'web.conf'))


def test_entry_point_exports_run_the_entry_point(sample, tmp_path):
    sample.write('src/hello.py', 'import sys\n\ndef main(path):\n'
                 '    open(path, "w").write("hello from %s" % sys.argv[0])\n')
    sample.write('src/setup.py', 'from setuptools import setup\n'
                 'setup(name="hello", version="1", py_modules=["hello"])\n')
    target = tmp_path / 'out'
    sample.write('buildout.cfg', '[buildout]\ndevelop = src\nparts = hi\n\n[hi]\n'
                 'recipe = buildout_script:service\neggs = hello\n'
                 'entry-point = hello:main\narguments = %r\n'
                 'supervisor = etc/hi.conf\nsystemd = user\n' % str(target))
    code, out = sample.buildout()
    assert code == 0, out
    _, values = read_as_supervisord(sample.path('etc', 'hi.conf'))
    argv = shlex.split(values['command'])
    assert argv[:2] == [sys.executable, '-c'] and '\n' not in argv[2]
    subprocess.run(argv, check=True, timeout=60)
    assert target.read_text() == 'hello from hi'
    assert 'ExecStart=' in sample.read('etc/systemd/hi.service')


# -- init.d: the LSB header of bin/NAMEctl ------------------------------------------

LSB_KEYWORDS = ('Provides', 'Required-Start', 'Required-Stop', 'Should-Start',
                'Should-Stop', 'Default-Start', 'Default-Stop', 'Short-Description',
                'Description')


def lsb_header(text):
    """The LSB init-script comment block, parsed strictly (LSB 5.0, "Comment
    Conventions for Init Scripts"): one block, each line ``# Keyword: args``,
    Description continued by lines of ``#`` and a tab or two spaces."""
    lines = text.splitlines()
    assert lines.count('### BEGIN INIT INFO') == 1, 'one BEGIN line'
    begin = lines.index('### BEGIN INIT INFO')
    end = lines.index('### END INIT INFO', begin)
    assert begin <= 1, 'the block opens the script (after the #! line)'
    fields, last = {}, None
    for line in lines[begin + 1:end]:
        match = re.match(r'^# ([A-Za-z-]+):(?:[ \t]+(.*))?$', line)
        if match and (match.group(1) in LSB_KEYWORDS or match.group(1).startswith('X-')):
            keyword = match.group(1)
            assert keyword not in fields, 'keyword %s twice' % keyword
            fields[keyword] = (match.group(2) or '').strip()
            last = keyword
            continue
        assert last == 'Description' and re.match(r'^#(\t|  )\s*\S', line), \
            'not an LSB header line: %r' % line
        fields['Description'] += ' ' + line[1:].strip()
    return fields


def test_ctl_carries_an_lsb_header_for_init_d(sample):
    sample.configure(service('web', ''))
    code, out = sample.buildout()
    assert code == 0, out
    fields = lsb_header(sample.read('bin/webctl'))
    assert fields['Provides'] == 'web'
    assert set(fields['Required-Start'].split()) >= {'$remote_fs', '$syslog'}
    assert fields['Default-Start'].split() == ['2', '3', '4', '5']
    assert fields['Default-Stop'].split() == ['0', '1', '6']
    assert all(level in '0123456S' for level in
               (fields['Default-Start'] + ' ' + fields['Default-Stop']).split())
    assert '\n' not in fields['Short-Description'] and fields['Short-Description']
    code, out = sample.run([sample.path('bin', 'webctl'), 'status'])
    assert (code, out) == (3, 'web is not running\n')


# .ci/run unpacks Debian's insserv without installing it (its install rewrites
# /etc/rc?.d) and names it in $INSSERV.
INSSERV = (os.environ.get('INSSERV') or shutil.which('insserv')
           or shutil.which('insserv', path='/sbin:/usr/sbin'))


@pytest.mark.skipif(not INSSERV, reason='insserv is not installed (Debian package insserv)')
def test_insserv_orders_the_script_from_its_header(sample, tmp_path):
    sample.configure(service('web', ''))
    code, out = sample.buildout()
    assert code == 0, out
    init_d = tmp_path / 'init.d'
    init_d.mkdir()
    shutil.copy(sample.path('bin', 'webctl'), init_d / 'web')
    # --dryrun: nothing written; its own init.d and overrides, no configuration.
    result = subprocess.run([INSSERV, '--dryrun', '--show-all', '--path', str(init_d),
                             '--override', str(tmp_path / 'overrides'), '--config',
                             os.devnull, 'web'],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert re.search(r'^S:\d+:2 3 4 5:web$', result.stdout, re.M), result.stdout
    assert re.search(r'^K:\d+:0 1 6:web$', result.stdout, re.M), result.stdout
    assert not re.search('(?i)missing|broken', result.stderr), result.stderr
