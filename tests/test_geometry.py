import numpy as np
import pytest

from pettrack.model.geometry import PAD_RGB, Letterbox


@pytest.mark.parametrize("size", [(640, 480), (333, 500), (1280, 720), (720, 1280), (257, 256), (3, 1000), (1, 1)])
def test_to_model_and_back_is_exact(size):
    width, height = size
    box = Letterbox.fit(width, height, 256)
    points = np.array([[0, 0], [width - 1, height - 1], [width * 0.37, height * 0.81]])
    assert np.allclose(box.to_image(box.to_model(points)), points, atol=1e-9)


@pytest.mark.parametrize("size", [(640, 480), (300, 500), (1280, 720), (97, 211)])
def test_a_marked_pixel_lands_where_to_model_says(size):
    """The letterboxed image and the point transform agree (non-square images)."""
    width, height = size
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = PAD_RGB  # so the padding does not count as signal
    x, y = int(width * 0.3), int(height * 0.7)
    image[max(0, y - 2): y + 3, max(0, x - 2): x + 3] = 255  # 5x5 bright square centred on (x, y)
    box = Letterbox.fit(width, height, 256)
    canvas = box.apply(image).astype(np.float64)[..., 0]
    canvas -= PAD_RGB[0]
    canvas[canvas < 0] = 0
    rows, cols = np.indices(canvas.shape)
    centroid = np.array([(cols * canvas).sum(), (rows * canvas).sum()]) / canvas.sum()
    assert np.hypot(*(centroid - box.to_model(np.array([x, y])))) < 0.5


def test_letterbox_keeps_aspect_and_centres():
    box = Letterbox.fit(1280, 720, 256)
    assert box.resized_size == (256, 144)
    assert box.offset == (0, 56)
    assert box.apply(np.zeros((720, 1280, 3), np.uint8)).shape == (256, 256, 3)


def test_heatmap_back_onto_the_image_peaks_at_the_point():
    box = Letterbox.fit(400, 300, 256)
    uv = box.to_model(np.array([120.0, 200.0]))
    heat = np.exp(-((np.arange(256)[None] - uv[0]) ** 2 + (np.arange(256)[:, None] - uv[1]) ** 2) / 50.0)
    back = box.heatmap_to_image(heat)
    assert back.shape == (300, 400)
    row, col = np.unravel_index(np.argmax(back), back.shape)
    assert abs(col - 120) <= 1 and abs(row - 200) <= 1
