"""Error messages say what was wrong, with the value that was wrong: no raw
format strings, the shape (not the name) for a bad shape, and the known
cause rather than a bare "invalid argument"."""

import pytest

import tshm


@pytest.mark.parametrize("mode,octal", [(600, "0o600"), (644, "0o644"), (640, "0o640")])
def test_mode_written_in_decimal_suggests_the_octal(client, name, mode, octal):
    with pytest.raises(tshm.InvalidError) as e:
        client.create(name, 1, mode=mode)
    msg = str(e.value)
    assert "%" not in msg, msg
    assert f"mode {mode} " in msg and f"did you mean {octal}?" in msg, msg
    assert e.value.code == -22  # TSHM_EINVAL


@pytest.mark.parametrize("mode,shown", [(1000, "mode 1000 (0o1750)"), (0o7777, "mode 4095 (0o7777)"),
                                        (888, "mode 888 (0o1570)"), (-1, "mode -1 ")])
def test_other_bad_modes_show_the_value(client, name, mode, shown):
    with pytest.raises(tshm.InvalidError) as e:
        client.create(name, 1, mode=mode)
    msg = str(e.value)
    assert "%" not in msg and shown in msg and "did you mean" not in msg, msg


def test_mode_of_a_stream_too(client, name):
    create = client.stream_create
    with pytest.raises(tshm.InvalidError, match=r"did you mean 0o600\?"):
        create(name, 3, "float32", mode=600)


@pytest.mark.parametrize("shape,shown", [((2**40, 2**40), "(1099511627776, 1099511627776)"),
                                         ((2**62,), "(4611686018427387904,)")])
def test_a_shape_too_big_shows_the_shape(client, name, shape, shown):
    with pytest.raises(tshm.InvalidError) as e:
        client.create(name, shape, "float32")
    msg = str(e.value)
    assert e.value.code == -4006
    assert shown in msg and "float32" in msg, msg
    assert name not in msg, msg


def test_a_stream_shape_too_big_shows_the_shape(client, name):
    create = client.stream_create
    with pytest.raises(tshm.InvalidError) as e:
        create(name, (2**40, 2**40), "int16")
    msg = str(e.value)
    assert "(1099511627776, 1099511627776)" in msg and "int16" in msg and name not in msg, msg


def test_subscribing_to_an_array_says_it_is_an_array(client, name):
    subscribe = client.sub_open
    seg = client.create(name, 3, "float32")
    try:
        with pytest.raises(tshm.InvalidError) as e:
            subscribe(name)
        msg = str(e.value)
        assert f"'{name}' is an array, not a stream" in msg, msg
    finally:
        seg.close()
        client.unlink(name)


def test_subscribing_to_nothing_is_still_not_found(client, name):
    subscribe = client.sub_open
    with pytest.raises(tshm.NotFoundError, match=name):
        subscribe(name)
