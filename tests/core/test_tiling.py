import numpy as np
import pytest

from care_bridge.tiling import auto_n_tiles, plan_tiles, read_block


@pytest.mark.parametrize("shape,n", [((101, 77), (3, 2)), ((64, 64), (1, 1)), ((17, 130), (2, 5)), ((9, 33, 40), (2, 2, 3))])
def test_plan_covers_every_pixel_once_with_equal_aligned_tiles(shape, n):
    halo, step = (8,) * len(shape), (4,) * len(shape)
    plan = plan_tiles(shape, n, halo, step)
    cover = np.zeros(shape, int)
    for t in plan.tiles:
        cover[t.write] += 1
        sizes = tuple(b - a for a, b in t.read)
        assert sizes == plan.tile_shape  # every tile has the same shape
        assert all(a % s == 0 for (a, _), s in zip(t.read, step))  # aligned to the pooling grid
        # the written region lies at least one halo inside the tile
        for c, h, (a, b) in zip(t.crop, plan.halo, t.read):
            assert c.start >= h and c.stop <= (b - a) - h
    assert (cover == 1).all()


def test_read_block_equals_symmetric_padding_of_the_whole_image():
    rng = np.random.default_rng(1)
    img = rng.random((13, 10, 2))
    pad = 7
    full = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    for read in [((-7, 6), (-7, 3)), ((5, 20), (0, 17)), ((-3, 10), (4, 10))]:
        block = read_block(img, read)
        sl = tuple(slice(a + pad, b + pad) for a, b in read)
        np.testing.assert_array_equal(block, full[sl])


def test_reflection_beyond_one_image_length():
    img = np.arange(3.0)
    np.testing.assert_array_equal(read_block(img, [(-5, 8)]), np.pad(img, (5, 5), mode="symmetric"))


def test_auto_tiles_fit_the_budget_and_grow_with_the_image():
    small = auto_n_tiles((256, 256), halo=(44, 44), step=(4, 4), bytes_per_voxel=1000, memory_budget=2e8)
    big = auto_n_tiles((2048, 2048), halo=(44, 44), step=(4, 4), bytes_per_voxel=1000, memory_budget=2e8)
    assert np.prod(small) == 1 and np.prod(big) > 1
    plan = plan_tiles((2048, 2048), big, (44, 44), (4, 4))
    assert np.prod(plan.tile_shape) * 1000 <= 2e8
