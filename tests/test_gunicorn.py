"""An entry point that takes its options from sys.argv: gunicorn, from
``eggs = gunicorn``, given its command line with the ``argv`` option (the
configuration README.txt shows)."""

import threading
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


def test_gunicorn_on_held_sockets_is_restarted_without_a_failed_request(sample):
    """The README's gunicorn with ``listen``: three restarts under a client
    sending requests back to back, each a new master, none refused."""
    zc.buildout.testing.install_develop('gunicorn', sample.test)
    port = free_port()
    sample.write('src/hello.py', APP)
    sample.configure('''[web]
recipe = buildout_script:service
eggs = gunicorn
entry-point = gunicorn.app.wsgiapp:run
argv = --workers 2 --graceful-timeout 5 hello:application
directory = ${buildout:directory}/src
listen = 127.0.0.1:%d
ready = notify
''' % port)
    code, out = sample.buildout()
    assert code == 0, out
    url = 'http://127.0.0.1:%d/' % port
    failures, count, running = [], [0], [True]

    def client():
        while running[0]:
            try:
                assert get(url) == 'hello from gunicorn\n'
            except Exception as e:
                failures.append(repr(e))
            count[0] += 1

    thread = threading.Thread(target=client)
    masters = []
    try:
        code, out = sample.run(['bin/webctl', 'start'])
        assert code == 0, out
        masters.append(int(sample.read('var/run/web.pid')))
        thread.start()
        for _ in range(3):
            code, out = sample.run(['bin/webctl', 'restart'])
            assert code == 0, out
            masters.append(int(sample.read('var/run/web.pid')))
    finally:
        running[0] = False
        if thread.is_alive():
            thread.join(30)
        code, out = sample.run(['bin/webctl', 'stop'])
    assert code == 0, out
    assert failures == [] and count[0] > 10, (failures[:3], count[0])
    assert len(set(masters)) == 4, masters
    assert wait_for(lambda: not any(alive(proc(pid)) for pid in masters))
    assert 'Listening at: http://127.0.0.1:%d' % port in sample.read('var/log/web.log')
