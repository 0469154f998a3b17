"""examples/producer.py and examples/consumer.py run as the README's main job
runs them: two processes, torch on one side and numpy on the other."""

import os
import subprocess
import sys

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def run_pair(daemon, name, consumer_first):
    def start(script, *args):
        return subprocess.Popen([sys.executable, os.path.join(EXAMPLES, script), name, *args],
                                env=daemon.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    first, second = (("consumer.py",), ("producer.py", "4")) if consumer_first else \
        (("producer.py", "4"), ("consumer.py",))
    procs = {first[0]: start(*first), second[0]: start(*second)}
    out = {}
    for script, p in procs.items():
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, f"{script}: {stderr}"
        out[script] = stdout
    return out


def test_producer_then_consumer(daemon, client, name):
    out = run_pair(daemon, name, consumer_first=False)
    assert out["producer.py"].count("consumer acknowledged round") == 4
    assert "sees round 4, row 0 = 4.00 4.01 4.02 4.03" in out["consumer.py"]
    assert "saw 4 rounds" in out["consumer.py"]
    assert not [e for e in client.list() if e["name"].startswith(name)]  # cleaned up


def test_consumer_first(daemon, client, name):
    out = run_pair(daemon, name, consumer_first=True)
    assert "4 rounds crossed both ways" in out["producer.py"]
    # the consumer waited for each round in turn: none missed, none seen twice
    assert [f"sees round {k}," in out["consumer.py"] for k in range(1, 5)] == [True] * 4
    assert "saw 4 rounds" in out["consumer.py"]
    assert not [e for e in client.list() if e["name"].startswith(name)]


def test_dataloader_example(daemon):
    res = subprocess.run([sys.executable, os.path.join(EXAMPLES, "dataloader.py"), "40"],
                         env=daemon.env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "torch.utils.data.DataLoader:" in res.stdout
    assert "tshm.torch.DataLoader:" in res.stdout and "x)" in res.stdout


def test_share_weights_example(daemon, client, name):
    """examples/share_weights.py: 4 spawned workers attach one published
    state_dict with no copy and compute what the loader computed; the
    ephemeral group goes with the loader."""
    res = subprocess.run([sys.executable, os.path.join(EXAMPLES, "share_weights.py"),
                          "--layers", "2", "--width", "64", "--name", name],
                         env=daemon.env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert f"published as group '{name}'" in out
    assert out.count("(matches)") == 4 and "DIFFERS" not in out
    assert "4 workers: every output matches the loader" in out
    assert not [e for e in client.list() if e["name"].startswith(name)]  # ephemeral: gone
