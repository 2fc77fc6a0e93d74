"""What the tests of `config.api.representation` compare: DRF's own output, over amounts of every type it reads."""

from hypothesis import strategies as st

# Amounts as answers hold them: decimals, integer counts and floats (which DRF reads by their shortest repr).
amounts = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=9, min_value=-(10**12), max_value=10**12),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
)


def as_drf(serializer_class, instance, context):
    """The serializer's `.data`, as DRF computes it."""
    return serializer_class(instance, context=context).data
