"""The commands as a person meets them: the usage line, --help, "did you
mean" and --version, driven through real generated scripts."""

import os
import sys
from importlib import metadata

import pytest

from buildout_script import config
from buildout_script.ctl import ACTIONS
from support import alive, proc, wait_for



def test_no_action_is_one_usage_line_naming_the_actions(web):
    code, out, err = web.output('bin/webctl')
    assert (code, out) == (2, '')
    assert len(err.splitlines()) == 1, err
    assert err.startswith('usage: webctl ')
    assert '{%s}' % ','.join(ACTIONS) in err
    assert 'required' not in err


def test_help_names_the_service_then_the_actions_then_the_settings(web):
    code, out, err = web.output('bin/webctl', '--help')
    assert (code, err) == (0, '')
    assert 'webctl: control the `web` service' in out
    lines = out.splitlines()
    actions = lines.index('actions:')
    settings = [i for i, line in enumerate(lines) if line.startswith('service settings')]
    assert settings and actions < settings[0]
    for action in ACTIONS:                 # one line each, with what it does
        line = [line for line in lines if line.startswith('  %s ' % action)]
        assert len(line) == 1 and len(line[0].split()) > 2, (action, out)
    status = out[out.index('  status '):out.index('  pid ')]
    assert '0 running' in status and '3 not running' in status
    for option in config.DEFAULTS:         # every option with a metavar saying its form
        assert '  --%s ' % option in out and '--%s VALUE' % option not in out, option
    for form in ('--stop-timeout SECONDS', '--ready PROBE', '--program COMMAND',
                 '--pid-dir DIR', '--restart-limit COUNT', '--stop-signal SIGNAL'):
        assert form in out
    assert 'README.txt' in out
    assert max(len(line) for line in lines[1:]) <= 79


def test_a_mistyped_action_gets_the_nearest_one_suggested(web):
    code, out, err = web.output('bin/webctl', 'sttus')
    assert (code, out) == (2, '')
    assert err == "webctl: unknown action 'sttus'; did you mean 'status'?\n"
    code, out, err = web.output('bin/webctl', '--json', 'stauts')
    assert (code, err) == (2, "webctl: unknown action 'stauts'; did you mean 'status'?\n")


def test_an_action_far_from_all_lists_them(web):
    code, out, err = web.output('bin/webctl', 'xyzzy')
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("webctl: unknown action 'xyzzy'; expected one of start, stop")


def test_a_mistyped_option_gets_the_nearest_one_suggested_and_nothing_runs(web):
    code, out, err = web.output('bin/webctl', '--stop-timout', '5', 'start')
    assert (code, out) == (2, '')
    assert err == "webctl: unknown option '--stop-timout'; did you mean '--stop-timeout'?\n"
    assert not os.path.exists(web.path('var', 'run', 'web.pid'))
    # no abbreviations: --pid is a mistake, not --pid-dir
    code, out, err = web.output('bin/webctl', '--pid', '/tmp', 'status')
    assert (code, err) == (2, "webctl: unknown option '--pid'; did you mean '--pid-dir'?\n")


def test_version_comes_from_the_installed_distribution(web):
    version = metadata.version('buildout_script')
    assert web.output('bin/webctl', '--version') == (
        0, 'webctl (buildout_script %s)\n' % version, '')
    for flag in ('-V', '--version'):
        assert web.output('bin/web-check', flag) == (
            0, 'web-check (buildout_script %s)\n' % version, '')


def test_check_help_states_its_exit_codes(web):
    code, out, err = web.output('bin/web-check', '--help')
    assert (code, err) == (0, '')
    assert 'web-check: the watchdog of the `web` service' in out
    for line in ('0 OK', '1 WARNING', '2 CRITICAL', '3 UNKNOWN'):
        assert '\n  %s ' % line in out
    assert '-t SECONDS' in out and '--stop-timeout SECONDS' in out
    assert 'README.txt' in out


def test_check_mistakes_are_unknown_with_a_suggestion(web):
    code, out, err = web.output('bin/web-check', '--verbos')
    assert (code, out, err) == (
        3, "web-check UNKNOWN - unknown option '--verbos'; did you mean '--verbose'?\n", '')
    code, out, err = web.output('bin/web-check', '-t', 'soon')
    assert (code, out) == (
        3, "web-check UNKNOWN - --timeout: expected a number of seconds, got 'soon'\n")


@pytest.mark.parametrize('command', [['bin/webctl', 'status'], ['bin/webctl', 'sttus'],
                                     ['bin/web-check', '-v', '-t', '10']])
def test_plain_commands_load_no_help_machinery(web, command):
    """argparse, difflib and importlib.metadata load only when asked for."""
    code, out = web.run([sys.executable, '-X', 'importtime'] + command)
    loaded = {line.split('|')[-1].strip() for line in out.splitlines()
              if line.startswith('import time:')}
    assert 'buildout_script.lifecycle' in loaded or 'sttus' in command, out
    assert not loaded & {'argparse', 'importlib.metadata'}, (command, out)
    if 'sttus' not in command:
        assert 'difflib' not in loaded, out


def test_python_m_without_arguments_names_name_in_its_usage(tmp_path):
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, '-m', 'buildout_script.ctl'], cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=root), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith('usage: python -m buildout_script.ctl --name NAME ')


def test_settings_given_on_the_command_line_still_act(web):
    """The parsing path with options: start, --help, stop --stop-timeout 5."""
    assert web.output('bin/webctl', 'start')[0] == 0
    pid = int(open(web.path('var', 'run', 'web.pid')).read())
    assert web.output('bin/webctl', '--help')[0] == 0
    assert web.output('bin/webctl', 'status')[0] == 0
    assert web.output('bin/webctl', '--stop-timeout', '5', 'stop')[0] == 0
    assert wait_for(lambda: not alive(proc(pid)))
