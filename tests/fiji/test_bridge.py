"""The hosted bridge's dispatch over its explicit handler table (no JVM needed): one reply per call, in the
property named by the call's own token, and one line for every failure."""

import errno

import pytest

from care_bridge.errors import CareBridgeError
from care_bridge.fiji.bridge import REPLY_PROPERTY, dispatch
from care_bridge.fiji.handlers import HANDLERS


def _table():
    def boom(opts):
        raise RuntimeError("a bug")

    def disk(opts):
        raise OSError(errno.ENOSPC, "No space left on device", "/out/x.tif")

    def bad(opts):
        raise CareBridgeError("the bundle is corrupt;\n re-export it")

    return {"ping": lambda o: "pong", "echo": lambda o: o.get("x", ""), "boom": boom, "disk": disk, "bad": bad}


def test_each_call_answers_in_its_own_property():
    t = _table()
    a = dispatch(t, "op=echo reply=[111_1] x=[first]")
    b = dispatch(t, "op=echo reply=[222_2] x=[second]")
    assert a == (f"{REPLY_PROPERTY}.111_1", "ok:first") and b == (f"{REPLY_PROPERTY}.222_2", "ok:second")
    assert dispatch(t, "op=ping") == (REPLY_PROPERTY, "ok:pong")  # an old macro without a token


@pytest.mark.parametrize("text,needle", [
    ("op=nope reply=[1]", "unknown CARE Bridge op 'nope'"),
    ("op=ping reply=[a b]", "reply token"),
    ("op=bad reply=[1]", "the bundle is corrupt; re-export it"),
    ("op=disk reply=[1]", "no space left on device (/out/x.tif); free some space"),
    ("op=boom reply=[1]", "internal error in care_bridge (RuntimeError: a bug)"),
    ("op=ping =x", "cannot read macro options"),
])
def test_failures_are_one_line(text, needle):
    _, reply = dispatch(_table(), text)
    assert reply.startswith("error:") and needle in reply and "\n" not in reply


def test_the_handler_table_is_explicit():
    assert set(HANDLERS) == {"ping", "restore", "restore_folder", "info"}
    assert dispatch(HANDLERS, "op=info reply=[1] bundle=[/no/such.zip]")[1].startswith("error:bundle '/no/such.zip'")
