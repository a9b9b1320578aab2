"""The TOML writer of converted experiments: `tomllib` reads back what it writes."""

import math
import tomllib

from hypothesis import given
from hypothesis import strategies as st

from mocha.experiment.toml_writer import dumps

KEYS = st.text(min_size=1, max_size=8)  # any key: bare where TOML allows, quoted otherwise
VALUES = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=3),
)


@given(
    table=st.dictionaries(KEYS, VALUES, max_size=4), top=st.dictionaries(KEYS, VALUES, max_size=3)
)
def test_what_is_written_reads_back(table, top):
    doc = {**{k: v for k, v in top.items() if k != "t"}, "t": table}
    back = tomllib.loads(dumps(doc, header="converted\nby a test"))
    assert back == doc


def test_non_ascii_keys_are_quoted():
    text = dumps({"x": {"café": 1.5, "plain_key-1": math.inf}})
    assert '"café" = 1.5' in text and "plain_key-1 = inf" in text
    assert tomllib.loads(text) == {"x": {"café": 1.5, "plain_key-1": math.inf}}
