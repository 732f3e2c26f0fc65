"""The command line of ctl: a user error is one line and the LSB exit code;
a generated bin/NAMEctl is ``main(argv, settings)`` with the settings parsed
at build time, and its command line overrides them."""

import json
import subprocess
import sys

import pytest

import support
from support import alive, gone, one_line, proc

pytestmark = support.linux_only


@pytest.mark.parametrize('args, options, code, words', [
    (['bogus'], {}, 2, ['bogus']),
    (['status'], {'stop_signal': 'FOO'}, 2, ['stop-signal', 'FOO']),
    (['status'], {'name': None}, 2, ['--name']),
    (['status'], {'name': 'a/b'}, 2, ['name']),
    (['status'], {'umask': '999'}, 2, ['umask']),
    (['status'], {'ready': 'carrier-pigeon:1'}, 2, ['ready']),
    (['start'], {'ready': 'http://127.0.0.1:abc/'}, 2, ['ready']),
    (['start'], {'ready': 'http://user@127.0.0.1/'}, 2, ['ready']),
    (['start'], {'ready': 'http:///path'}, 2, ['ready']),
    (['start'], {'program': ''}, 2, ['program']),
    (['start'], {'start_timeout': 'soon'}, 2, ['start-timeout']),
    (['start'], {'environment': 'no equals sign'}, 2, ['environment']),
    (['stop', 'now'], {}, 2, ['now']),
    (['kill'], {}, 2, ['SIGNAL']),
    (['kill', 'FOO'], {}, 2, ['FOO']),
    (['spawn'], {}, 2, ['SECONDS']),
    (['spawn', 'soon'], {}, 2, ['soon']),
    (['reload'], {}, 3, ['reload-signal']),
    (['reload'], {'reload_signal': 'HUP'}, 7, ['not running']),
    (['pid'], {}, 3, ['not running']),
    (['status'], {}, 3, ['not running']),
], ids=lambda v: '-'.join(v) if isinstance(v, list) else (
    ','.join('%s=%s' % kv for kv in v.items()) or 'defaults') if isinstance(v, dict)
    else str(v) if isinstance(v, int) else '')
def test_user_errors_are_one_line_with_the_lsb_code(service, args, options, code, words):
    svc = service()
    r = svc.run(*args, **options)
    assert r.code == code, r
    line = one_line(r.out + r.err)
    for word in words:
        assert word in line, r
    assert not svc.pid_file.exists()


def test_main_with_rendered_settings_as_a_generated_script_calls_it(service, tmp_path):
    """bin/NAMEctl: ``main(argv, settings)`` with settings parsed at build time."""
    svc = service()
    rendered = {'name': 'svc', 'program': 'sleep 300', 'pid-dir': str(svc.pid_dir),
                'log-dir': str(svc.log_dir), 'stop-signal': 'TERM'}
    generated = tmp_path / 'svcctl'
    generated.write_text(
        '#!%s\nimport sys\nimport buildout_script.ctl, buildout_script.config\n'
        'settings = buildout_script.config.parse(%r)\n'
        'sys.exit(buildout_script.ctl.main(sys.argv[1:], settings))\n'
        % (sys.executable, rendered))
    generated.chmod(0o755)

    def run(*args):
        done = subprocess.run([str(generated)] + list(args), cwd='/', env=svc.env(),
                              capture_output=True, text=True, timeout=60)
        assert 'Traceback' not in done.stdout + done.stderr, done
        return done

    assert run('status').returncode == 3
    assert run('start').returncode == 0
    pid = svc.read_pid()
    done = run('status', '--json')
    assert json.loads(done.stdout)['pid'] == pid, done
    assert run('pid').stdout == '%d\n' % pid
    done = run('--stop-signal', 'FOO', 'stop')
    assert done.returncode == 2 and 'stop-signal' in done.stderr, done
    assert alive(proc(pid))
    done = run('bogus')
    assert done.returncode == 2, done
    done = run('--stop-timeout', '5', 'stop')
    assert done.returncode == 0, done
    assert gone(proc(pid)) and run('status').returncode == 3
