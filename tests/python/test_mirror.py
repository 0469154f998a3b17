"""Client.mirror(), mirror_stop() and mirrors() against a daemon without
--peer-secret: the calls exist, mirrors are off (tshm.Error with
TSHM_ENOTSUP), the list is empty, and arguments are checked before the
daemon is asked. Mirroring between two daemons is tested with the peer
thread."""

import numpy as np
import pytest

import tshm

ENOTSUP = -4010


def test_mirror_is_off_without_peer_secret(client, name):
    client.create(name, 3)
    with pytest.raises(tshm.Error) as e:
        client.mirror(name, "gpu-box:7070")
    assert e.value.code == ENOTSUP, e.value
    assert type(e.value) is tshm.Error
    with pytest.raises(tshm.Error) as e:
        client.mirror(name, "gpu-box:7070", remote="copy_of_it")
    assert e.value.code == ENOTSUP
    with pytest.raises(tshm.Error) as e:
        client.mirror_stop(name)
    assert e.value.code == ENOTSUP
    assert client.mirrors() == []
    # The client still works after each refusal.
    assert client.stat(name)["name"] == name
    client.unlink(name)


def test_mirror_checks_the_segment_first(client, name):
    with pytest.raises(tshm.NotFoundError):
        client.mirror(name, "gpu-box:7070")


@pytest.mark.parametrize("peer", ["", "gpu box:7070", "x" * 256, "host:1\t"])
def test_mirror_refuses_a_bad_peer(client, name, peer):
    with pytest.raises(tshm.InvalidError) as e:
        client.mirror(name, peer)
    assert e.value.code == -22


def test_mirror_refuses_bad_names(client):
    with pytest.raises(tshm.InvalidError):
        client.mirror(".bad", "h:1")
    with pytest.raises(tshm.InvalidError):
        client.mirror("good", "h:1", remote="no/slash")
    with pytest.raises(TypeError):
        client.mirror("good", 7070)
    with pytest.raises(tshm.InvalidError):
        client.mirror_stop(".bad")


def test_mirror_keyword_arguments(client, name):
    client.from_numpy(name, np.arange(3, dtype=np.int32))
    with pytest.raises(tshm.Error) as e:
        client.mirror(name=name, peer="[fe80::1]:7070", remote=None)
    assert e.value.code == ENOTSUP
    with pytest.raises(tshm.Error):
        client.mirror_stop(name=name)
    client.unlink(name)
