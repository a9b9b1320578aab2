import numpy as np
import pytest
from layer_smoke import Case, L, normal

from mocha import InnerProductLayer, LayerConfigError, MemoryDataLayer, Net, ShapeError
from mocha.plugins.layers.crop import CropLayer
from mocha.plugins.layers.reshape import ReshapeLayer
from mocha.testing import check_layer, reference_backend, run_layer


def image_batch(shape=(2, 3, 6, 7)):
    return np.arange(np.prod(shape), dtype=np.float64).reshape(shape)


@pytest.mark.parametrize("crop", [(4, 3), (6, 7), (1, 1), 5])
def test_centred_crop_with_height_width_order(crop):
    x = image_batch()
    ch, cw = (crop, crop) if isinstance(crop, int) else crop
    (y,) = run_layer(CropLayer(crop_size=crop, bottoms=["x"], tops=["y"]), [x]).tops()
    h0, w0 = (6 - ch) // 2, (7 - cw) // 2
    np.testing.assert_array_equal(y, x[:, :, h0 : h0 + ch, w0 : w0 + cw])


def test_random_crop_and_mirror_are_windows_shared_by_the_batch():
    x = image_batch()
    layer = CropLayer(
        crop_size=(3, 2), random_crop=True, random_mirror=True, bottoms=["x"], tops=["y"]
    )
    h = run_layer(layer, [x], backend=reference_backend(seed=5))
    seen_offsets, seen_mirror = set(), set()
    for _ in range(60):
        h.state.forward(h.backend, h.inputs)
        (y,) = h.tops()
        found = None
        for h0 in range(6 - 3 + 1):
            for w0 in range(7 - 2 + 1):
                win = x[:, :, h0 : h0 + 3, w0 : w0 + 2]
                for mirrored, cand in ((False, win), (True, win[..., ::-1])):
                    if np.array_equal(y, cand):
                        found = (h0, w0, mirrored)
        assert found is not None, "the output is not one window of the whole batch"
        seen_offsets.add(found[:2])
        seen_mirror.add(found[2])
    assert len(seen_offsets) > 5 and seen_mirror == {False, True}


def test_same_seed_gives_the_same_crops():
    x = image_batch()
    layer = CropLayer(crop_size=2, random_crop=True, bottoms=["x"], tops=["y"])
    outs = []
    for _ in range(2):
        h = run_layer(layer, [x], backend=reference_backend(seed=3))
        h.state.forward(h.backend, h.inputs)
        outs.append(h.tops()[0])
    np.testing.assert_array_equal(*outs)


def test_agrees_with_reference_on_each_backend(backend):
    x = image_batch((2, 2, 5, 4)).astype(np.float32)
    check_layer(CropLayer(crop_size=(3, 3), bottoms=["x"], tops=["y"]), [x], backend)


def test_errors():
    with pytest.raises(LayerConfigError, match=r"'crop_size' = \(0, 3\)"):
        CropLayer(crop_size=(0, 3), bottoms=["x"], tops=["y"])
    with pytest.raises(LayerConfigError, match="crop_size"):
        CropLayer(crop_size=(1, 2, 3), bottoms=["x"], tops=["y"])
    layer = CropLayer(name="c", crop_size=(7, 3), bottoms=["x"], tops=["y"])
    with pytest.raises(ShapeError, match=r"CropLayer\('c'\): crop_size .* \(7, 3\) is larger"):
        run_layer(layer, [image_batch()])
    with pytest.raises(ShapeError, match="must be 4-D"):
        run_layer(layer, [np.ones((2, 8, 8))])


def test_refuses_a_bottom_that_wants_a_gradient():
    layers = [
        MemoryDataLayer(data=[np.ones((4, 12))], tops=["x"], batch_size=2),
        InnerProductLayer(name="ip", output_dim=16, bottoms=["x"], tops=["h"]),
        ReshapeLayer(shape=(1, 4, 4), bottoms=["h"], tops=["img"]),
        CropLayer(name="crop", crop_size=2, bottoms=["img"], tops=["y"]),
    ]
    with pytest.raises(
        LayerConfigError,
        match=r"CropLayer\(name='crop'\).*'img'.*cannot "
        r"back-propagate",
    ):
        Net("n", reference_backend(), layers)


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "CropLayer": Case(
        lambda t: L("CropLayer", crop_size=(3, 4), bottoms=["x"], tops=["y"]),
        [normal(2, 3, 5, 6)],
        shapes=[(2, 3, 3, 4)],
    ),
}
