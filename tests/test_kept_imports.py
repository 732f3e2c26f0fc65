"""status and a healthy check of a supervised service stay as light as in
the cron mode: no argparse, subprocess or psutil on their path."""

import sys

import pytest

import support


@pytest.mark.skipif(support.PSUTIL, reason='/proc only: the psutil backend'
                    ' (BUILDOUT_SCRIPT_PSUTIL=1) imports psutil, and psutil subprocess')
def test_status_and_a_healthy_check_of_a_kept_service_import_little(sample):
    sample.configure('[web]\nrecipe = buildout_script:service\nprogram = sleep 60\n'
                     'supervise = true\n')
    assert sample.buildout()[0] == 0
    assert sample.run(['bin/webctl', 'start'])[0] == 0
    try:
        for command in ('bin/webctl status', 'bin/web-check --verbose'):
            code, out = sample.run([sys.executable, '-X', 'importtime'] + command.split())
            assert code == 0 and 'kept by pid' in out, out
            loaded = {line.split('|')[-1].strip() for line in out.splitlines()
                      if line.startswith('import time:')}
            assert 'buildout_script.supervision' in loaded, out
            assert not loaded & {'argparse', 'subprocess', 'psutil'}, (command, sorted(loaded))
    finally:
        sample.run(['bin/webctl', 'stop'])
