"""Desync detection: owners announce a hash of their bodies at a chain seq; copies check at that seq."""

from hypothesis import given
from hypothesis import strategies as st

from krapition_app.session_sync import HASH_BYTES, DesyncMonitor, bodies_hash

names = st.lists(st.text(min_size=1, max_size=12), max_size=30, unique=True)


@given(names, st.randoms())
def test_the_hash_is_canonical(items, rnd):
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert bodies_hash(items) == bodies_hash(shuffled) and len(bodies_hash(items)) == HASH_BYTES


@given(names, st.text(min_size=1, max_size=12))
def test_one_body_more_or_less_changes_it(items, extra):
    if extra in items:
        assert bodies_hash(items) != bodies_hash([n for n in items if n != extra])
    else:
        assert bodies_hash(items) != bodies_hash([*items, extra])
    # names cannot run together into another set
    assert bodies_hash(["ab", "c"]) != bodies_hash(["a", "bc"])


def test_checks_only_at_the_announced_seq():
    m = DesyncMonitor()
    assert m.check("aa", 5, ["x"]) is None  # nothing announced
    m.announced("aa", 7, bodies_hash(["x", "y"]))
    assert m.check("aa", 6, ["x"]) is None  # our copy is behind: wait
    assert m.check("aa", 7, ["y", "x"]) is True
    assert m.check("aa", 7, ["x"]) is None  # used up
    m.announced("aa", 9, bodies_hash(["x", "y"]))
    assert m.check("aa", 9, ["x"]) is False and (m.checked, m.mismatches) == (2, 1)
    m.announced("bb", 1, b"short")  # malformed: ignored
    assert m.check("bb", 1, []) is None
