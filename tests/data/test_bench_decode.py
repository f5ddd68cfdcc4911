"""scripts/bench_decode.py: every decoder makes the handler's input from the same photo."""
import re


def test_each_decoder_is_timed_against_the_handlers_own(load_script, capsys):
    assert load_script("bench_decode").main(["--repeat", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CPU: ")
    assert len(re.findall(r"^  pillow-draft ", out, flags=re.MULTILINE)) == 2   # the photo as given, and 4:2:0
    assert "4:2:0" in out
    others = re.findall(r"^  (?:pillow-full|simplejpeg|torchvision) .*$", out, flags=re.MULTILINE)
    assert len(others) == 6
    for line in others:
        assert "not installed" in line or re.search(r"x\d+\.\d\d of pillow-draft", line)
    # The handler's own path is the reference: its input differs from itself by nothing.
    assert re.search(r"pillow-draft .* x1\.00 of pillow-draft .* up to 0 levels", out)
