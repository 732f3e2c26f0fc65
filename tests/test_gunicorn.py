"""An entry point that takes its options from sys.argv: gunicorn, from
``eggs = gunicorn``, given its command line with the ``argv`` option (the
configuration README.txt shows)."""

import urllib.request

import pytest
import zc.buildout.testing

from support import alive, free_port, proc, wait_for

gunicorn = pytest.importorskip('gunicorn', reason='gunicorn is in the test extra')

APP = '''def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello from gunicorn\\n']
'''


def get(url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return response.read().decode()


def test_gunicorn_serves_a_wsgi_app_with_argv(sample):
    zc.buildout.testing.install_develop('gunicorn', sample.test)
    port = free_port()
    sample.write('src/hello.py', APP)
    sample.configure('''[web]
recipe = buildout_script:service
eggs = gunicorn
entry-point = gunicorn.app.wsgiapp:run
argv = --bind 127.0.0.1:%d --workers 2 hello:application
directory = ${buildout:directory}/src
ready = http://127.0.0.1:%d/
check = http://127.0.0.1:%d/
reload-signal = HUP
''' % (port, port, port))
    code, out = sample.buildout()
    assert code == 0, out
    assert "sys.argv[1:] = ['--bind', '127.0.0.1:%d', '--workers', '2'," % port \
        in sample.read('bin/webctl')
    try:
        code, out = sample.run(['bin/webctl', 'start'])
        assert code == 0, out
        assert get('http://127.0.0.1:%d/' % port) == 'hello from gunicorn\n'
        code, out = sample.run(['bin/web-check', '-v'])
        assert code == 0 and out.startswith('web OK - running'), out
        assert sample.run(['bin/webctl', 'reload'])[0] == 0
        master = int(sample.read('var/run/web.pid'))
    finally:
        code, out = sample.run(['bin/webctl', 'stop'])
    assert code == 0, out
    assert wait_for(lambda: not alive(proc(master)))
    assert 'Booting worker' in sample.read('var/log/web.log')


def test_argv_needs_an_entry_point(sample):
    sample.configure('[web]\nrecipe = buildout_script:service\nprogram = sleep 1\n'
                     'argv = --bind x\n')
    code, out = sample.buildout()
    assert "Part 'web', option 'argv': only applies with option 'entry-point'" in out, out
