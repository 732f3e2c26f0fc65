"""README.txt is the manual's first read and a doctest: run it in a fresh
sample buildout, with the set-up, helpers and checker of the chapters in
docs/ (test_manual.py says what they are)."""

import os

from test_manual import README, ROOT, run_manual


def test_readme():
    run_manual(README)


def test_readme_table_lists_every_service_option():
    from buildout_script import config
    from buildout_script.recipes import service
    with open(README, encoding='utf-8') as f:
        text = f.read()
    table = text[text.index('Options of a service part'):text.index('An entry point instead')]
    for option in list(config.DEFAULTS) + list(service.OPTIONS):
        assert '\n``%s``' % option in table, option


def test_hacking_names_every_module_of_the_package():
    """The contributors' module map (HACKING.txt) keeps up with the package."""
    with open(os.path.join(ROOT, 'HACKING.txt'), encoding='utf-8') as f:
        text = f.read()
    text = text[text.index('Where things are'):text.index('The tests\n')]
    package = os.path.join(ROOT, 'buildout_script')
    for name in sorted(os.listdir(package)):
        if name.endswith('.py') and name != '__init__.py':
            assert '``%s``' % name in text or '/%s``' % name in text, name
