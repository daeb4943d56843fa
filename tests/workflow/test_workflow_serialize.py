"""The proposal's one-pass JSON text and the audit record's spliced text equal the reference ones exactly."""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from directindex.ledger.records import Term
from directindex.store.repo import canonical_json, plain_json
from directindex.tax.status import FilingStatus
from directindex.workflow import audit, proposals

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5),
    st.decimals(allow_nan=False, allow_infinity=False, places=4), st.dates(),
    st.datetimes(timezones=st.just(UTC)),
    st.sampled_from(list(Term)), st.sampled_from(list(FilingStatus)),
)
keys = st.one_of(st.text(max_size=4), st.integers(-3, 3), st.sampled_from(list(Term)))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
        st.frozensets(st.text(max_size=3), max_size=3), st.dictionaries(keys, inner, max_size=4),
    ),
    max_leaves=30,
)


@given(st.dictionaries(st.text(max_size=6), values, max_size=6), st.data())
def test_spliced_audit_text_is_the_canonical_text(payload, data):
    content = plain_json(payload)
    spliced = data.draw(st.sets(st.sampled_from(sorted(content)))) if content else set()
    encoded = {k: canonical_json(content[k], plain=True) for k in spliced}
    assert audit._body(content, encoded) == canonical_json(content, plain=True)


def test_plain_keeps_decimal_text_and_dates():
    row = {"basis": Decimal("10.50"), "day": date(2025, 6, 30), "term": Term.SHORT, "zero": Decimal("-0.00")}
    assert plain_json(row) == {"basis": "10.5", "day": "2025-06-30", "term": "short",
                                "zero": plain_json(Decimal("-0.00"))}


str_keyed = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
        st.frozensets(st.text(max_size=3), max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=4),
    ),
    max_leaves=30,
)


@given(str_keyed)
def test_one_pass_proposal_text_is_the_canonical_text(value):
    assert proposals.canonical_text(value) == canonical_json(value)


def test_one_pass_text_falls_back_on_unsortable_keys():
    value = {"a": {1: "x", "b": Decimal("1.50")}}
    assert proposals.canonical_text(value) == canonical_json(value)


def test_spliced_record_without_decoded_parts_is_the_appended_text():
    content = plain_json({"account": "A", "as_of": date(2025, 6, 30), "trades": [{"q": Decimal("2.0")}]})
    encoded = {"trades": canonical_json(content["trades"], plain=True)}
    partial = {k: v for k, v in content.items() if k not in encoded}
    assert audit._body({**partial, **dict.fromkeys(encoded)}, encoded) == canonical_json(content, plain=True)


@given(st.integers(1, 10**9), st.text(), st.text(), st.text(), st.text(), st.text(alphabet="0123456789abcdef"))
def test_record_hash_is_sha256_of_the_records_canonical_json(seq: int, at: str, kind: str, subject: str,
                                                             payload: str, prev: str) -> None:
    """The hash spelled out (and its pre-quoted payload) is the documented one: sha256(canonical JSON + prev)."""
    from directindex.store.repo import sha256_text

    want = sha256_text(canonical_json({"seq": seq, "at": at, "kind": kind, "subject": subject, "payload": payload})
                       + prev)
    assert audit.record_hash(seq, at, kind, subject, payload, prev) == want
    assert audit.record_hash(seq, at, kind, subject, payload, prev, payload_quoted=audit.quoted(payload)) == want
