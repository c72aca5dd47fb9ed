"""gan_sr.progress.progress_bar: the one tqdm bar, silent off a TTY or when disabled."""

import io

from gan_sr.progress import progress_bar


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_bar_shows_on_a_tty_only_when_enabled(monkeypatch):
    monkeypatch.setattr("sys.stderr", _Tty())
    bar = progress_bar(10, desc="build", unit="src", initial=2)
    assert not bar.disable and (bar.unit, bar.desc, bar.n, bar.total) == ("src", "build", 2, 10)
    bar.close()
    assert progress_bar(10, desc="x", enabled=False).disable
    monkeypatch.setattr("sys.stderr", io.StringIO())
    bar = progress_bar(10, desc="x")
    assert bar.disable
    bar.update(3)
    bar.set_postfix_str("m")
    bar.close()
