import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import authorities, uris

from krapition_app.model import DEFAULT_PORT, Authority, InvalidURIError, KrapitionURI, URIPattern, parse_uri


def test_parses_the_parts_and_the_owning_authority():
    uri = parse_uri("krapition://alice.local:9000/physics/objects/ball-001")
    assert (uri.host, uri.port, uri.kind, uri.collection, uri.name) == (
        "alice.local",
        9000,
        "physics",
        "objects",
        "ball-001",
    )
    assert str(uri.authority) == "alice.local:9000"
    assert uri.path == "/physics/objects/ball-001"
    assert uri.is_owned_by("alice.local:9000")
    assert not uri.is_owned_by("bob.local:9000")
    assert not uri.is_owned_by("alice.local:9001")


@pytest.mark.parametrize("kind_collection", ["physics/objects", "physics/constraints", "physics/materials"])
def test_the_seed_kinds_are_known(kind_collection):
    assert parse_uri(f"krapition://h:1/{kind_collection}/x").path == f"/{kind_collection}/x"


def test_default_port_and_canonical_form():
    uri = parse_uri("KRAPITION://Alice.LOCAL/physics/objects/Ball-1")
    assert uri.port == DEFAULT_PORT
    assert str(uri) == f"krapition://alice.local:{DEFAULT_PORT}/physics/objects/Ball-1"
    assert parse_uri(str(uri)) == uri


def test_ip_addresses():
    assert parse_uri("krapition://127.0.0.1:5/physics/objects/a").host == "127.0.0.1"
    v6 = parse_uri("krapition://[0:0::1]:5/physics/objects/a")
    assert str(v6) == "krapition://[::1]:5/physics/objects/a"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("http://h:1/physics/objects/a", "scheme"),
        ("krapition:/h/physics/objects/a", "'://'"),
        ("krapition:///physics/objects/a", "authority"),
        ("krapition://h:1", "path"),
        ("krapition://h:1/physics/objects", "segment"),
        ("krapition://h:1/physics/objects/a/b", "segment"),
        ("krapition://h:1/physics/things/a", "unknown collection 'things'"),
        ("krapition://h:1/chemistry/objects/a", "unknown kind 'chemistry'"),
        ("krapition://h:1/physics/objects/-a", "bad name"),
        ("krapition://h:1/physics/objects/a b", "printable ASCII"),
        ("krapition://h:0/physics/objects/a", "1..65535"),
        ("krapition://h:65536/physics/objects/a", "1..65535"),
        ("krapition://h:08/physics/objects/a", "leading zeros"),
        ("krapition://h:x/physics/objects/a", "not a decimal"),
        ("krapition://u@h:1/physics/objects/a", "user information"),
        ("krapition://-h:1/physics/objects/a", "bad host label"),
        ("krapition://256.1.1.1:1/physics/objects/a", "IPv4"),
        ("krapition://[::g]:1/physics/objects/a", "IPv6"),
        ("krapition://[::1/physics/objects/a", "unterminated"),
        ("krapition://h:1/physics/objects/a?x=1", "query"),
        ("krapition://h:1/physics/objects/a#f", "fragment"),
        ("krapition://h:1/physics/objects/a%20", "percent"),
        ("krapition://h:1/physics/objects/" + "a" * 129, "longer than 128"),
        ("krapition://h:1/physics/objects/" + "a" * 600, "longer than 512"),
        ("krapition://h:1/physics/objects/ä", "ASCII"),
    ],
)
def test_malformed_uris_raise_one_precise_error_with_the_reason(text, reason):
    with pytest.raises(InvalidURIError) as info:
        parse_uri(text)
    assert reason in info.value.reason
    assert isinstance(info.value, ValueError)  # callers that expect ValueError still catch it


def test_non_string_input_is_rejected_precisely():
    with pytest.raises(InvalidURIError, match="expected a str"):
        parse_uri(42)  # type: ignore[arg-type]


def test_building_validates_too():
    uri = KrapitionURI.build("h:2", "audio", "listeners", "main")
    assert str(uri) == "krapition://h:2/audio/listeners/main"
    with pytest.raises(InvalidURIError):
        KrapitionURI.build("h:2", "audio", "objects", "main")
    with pytest.raises(InvalidURIError):
        uri.with_name("../x")


@given(uris())
def test_round_trip_from_value(uri):
    assert parse_uri(str(uri)) == uri
    assert str(parse_uri(str(uri))) == str(uri)


@given(uris(), st.booleans(), st.booleans())
def test_round_trip_from_equivalent_text(uri, upper_scheme, omit_default_port):
    scheme = "KRAPITION" if upper_scheme else "krapition"
    authority = str(uri.authority)
    if omit_default_port and uri.port == DEFAULT_PORT:
        authority = uri.host
    text = f"{scheme}://{authority.upper() if not uri.host.startswith('[') else authority}{uri.path}"
    assert parse_uri(text) == uri


@given(authorities)
def test_authority_round_trip(authority):
    assert Authority.parse(str(authority)) == authority


@given(st.text(max_size=80))
def test_arbitrary_text_parses_or_raises_invalid_uri_only(text):
    try:
        uri = parse_uri(text)
    except InvalidURIError:
        return
    assert parse_uri(str(uri)) == uri


def test_patterns_for_list_queries():
    every_object = URIPattern.parse("krapition://*/physics/objects/*")
    assert every_object.matches("krapition://a:1/physics/objects/ball-1")
    assert every_object.matches(parse_uri("krapition://b.local/physics/objects/box-2"))
    assert not every_object.matches("krapition://a:1/physics/constraints/hinge-1")
    balls = URIPattern.parse("krapition://alice.local:*/physics/objects/ball-*")
    assert balls.matches("krapition://alice.local:7/physics/objects/ball-9")
    assert not balls.matches("krapition://bob.local:7/physics/objects/ball-9")
    assert not balls.matches("krapition://alice.local:7/physics/objects/box-9")
    default_port = URIPattern.parse("krapition://alice.local/physics/*/*")
    assert default_port.matches(f"krapition://alice.local:{DEFAULT_PORT}/physics/materials/steel")
    assert not default_port.matches("krapition://alice.local:1/physics/materials/steel")
    assert str(every_object) == "krapition://*/physics/objects/*"
    one_char = URIPattern.parse("krapition://*/physics/objects/ball-?")
    assert one_char.matches("krapition://a:1/physics/objects/ball-7")
    assert not one_char.matches("krapition://a:1/physics/objects/ball-17")


def test_a_star_never_crosses_a_slash():
    pattern = URIPattern.parse("krapition://*/physics/*/*")
    assert pattern.matches("krapition://a:1/physics/objects/x")
    with pytest.raises(InvalidURIError):
        URIPattern.parse("krapition://*/physics/*")


@given(uris())
def test_a_uri_is_a_pattern_matching_itself(uri):
    assert URIPattern.parse(str(uri)).matches(uri)
