"""Blob and NullBlob (semantics §1): shape, dtype, host transfers, fill, reshape, no-ops."""

import numpy as np
import pytest

from mocha import Blob, NullBlob
from mocha.core.blob import is_null


def test_shape_dtype_and_sizes(backend):
    blob = backend.zeros((4, 3, 2, 5))
    assert blob.shape == (4, 3, 2, 5)
    assert blob.dtype == np.float32
    assert blob.ndim == 4
    assert blob.size == 4 * 3 * 2 * 5
    assert blob.num == len(blob) == 4
    assert blob.fea_size == 3 * 2 * 5
    assert repr(blob) == "Blob(4 x 3 x 2 x 5)"
    assert not blob.is_null and not is_null(blob)


def test_empty_blob_takes_an_explicit_dtype(backend):
    assert backend.empty((2, 2), dtype="float64").dtype == np.float64


def test_copy_from_and_to_host_round_trip(backend):
    host = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    blob = backend.empty(host.shape)
    assert blob.copy_from(host) is blob
    out = blob.to_host()
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float32  # cast to the blob's dtype on the way in
    np.testing.assert_array_equal(out, host)


def test_to_host_is_a_copy(backend):
    blob = backend.from_host(np.ones((2, 2)))
    out = blob.to_host()
    out[...] = 7
    np.testing.assert_array_equal(blob.to_host(), np.ones((2, 2)))


def test_copy_to_fills_an_existing_host_array(backend):
    blob = backend.from_host(np.arange(6.0).reshape(2, 3))
    host = np.zeros((2, 3), dtype=np.float64)
    assert blob.copy_to(host) is host
    np.testing.assert_array_equal(host, np.arange(6.0).reshape(2, 3))


def test_from_host_copies(backend):
    host = np.zeros((3,), dtype=np.float32)
    blob = backend.from_host(host)
    host[0] = 5
    assert blob.to_host()[0] == 0


def test_copy_from_refuses_a_shape_mismatch(backend):
    blob = backend.empty((2, 3))
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*Blob\(2 x 3\)"):
        blob.copy_from(np.zeros((3, 2)))


def test_fill_and_erase(backend):
    blob = backend.empty((3, 2))
    assert blob.fill(2.5) is blob
    np.testing.assert_array_equal(blob.to_host(), np.full((3, 2), 2.5))
    assert blob.erase() is blob
    np.testing.assert_array_equal(blob.to_host(), np.zeros((3, 2)))


@pytest.mark.parametrize("shape", [((6, 4),), (6, 4)])
def test_reshape_shares_memory(backend, shape):
    blob = backend.from_host(np.arange(24.0).reshape(2, 3, 4))
    view = blob.reshape(*shape)
    assert view.shape == (6, 4)
    assert view.backend is blob.backend
    view.data[0, 0] = -1  # writes through both ways
    assert blob.to_host()[0, 0, 0] == -1
    blob.fill(3)
    np.testing.assert_array_equal(view.to_host(), np.full((6, 4), 3))


def test_blob_without_backend_works_on_host_arrays():
    blob = Blob(np.zeros((2, 2), dtype=np.float32))
    blob.copy_from(np.ones((2, 2)))
    np.testing.assert_array_equal(blob.to_host(), np.ones((2, 2)))


def test_null_blob_describes_nothing():
    null = NullBlob()
    assert null.is_null and is_null(null) and is_null(None)
    assert not null
    assert null.shape == () and null.ndim == 0 and null.size == 0 and null.num == 0
    assert null.dtype == np.float32
    assert repr(null) == "Blob()"


def test_null_blob_operations_are_no_ops():
    null = NullBlob()
    assert null.copy_from(np.ones((5, 5))) is null  # any shape: ignored
    assert null.fill(3.0) is null
    assert null.erase() is null
    assert null.reshape(2, 2) is null
    assert null.to_host().size == 0
    host = np.full((2,), 9.0)
    assert null.copy_to(host) is host
    np.testing.assert_array_equal(host, [9.0, 9.0])
