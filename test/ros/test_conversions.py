"""Image messages <-> numpy and the node's output messages, without a ROS graph."""
import array

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("sensor_msgs")
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from panoptic_ros.data.categories import Category, CategoryMap  # noqa: E402
from panoptic_ros.panoptic import fuse  # noqa: E402
from panoptic_ros.ros import conversions as conv  # noqa: E402
from panoptic_ros.stream.semantic import semantic_from_panoptic  # noqa: E402

pytestmark = pytest.mark.ros
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)
GRAY = cv2.cvtColor(RGB, cv2.COLOR_RGB2GRAY)


def raw_msg(pixels: np.ndarray, encoding: str, *, pad: int = 0, bigendian: bool = False) -> Image:
    """Build an Image by hand (independent of the code under test), rows padded by `pad` bytes."""
    h, w = pixels.shape[:2]
    row = pixels.reshape(h, -1)
    if pixels.dtype.itemsize > 1:
        row = row.astype(pixels.dtype.newbyteorder(">" if bigendian else "<"))
    row_bytes = row.view(np.uint8).reshape(h, -1)
    padded = np.concatenate([row_bytes, np.full((h, pad), 7, np.uint8)], axis=1)
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=int(bigendian), step=padded.shape[1])
    msg.data = array.array("B", padded.tobytes())
    return msg


@pytest.mark.parametrize("encoding, pixels, expected", [
    ("rgb8", RGB, RGB),
    ("bgr8", RGB[..., ::-1].copy(), RGB),
    ("8UC3", RGB[..., ::-1].copy(), RGB),
    ("rgba8", np.dstack([RGB, np.full(RGB.shape[:2], 9, np.uint8)]), RGB),
    ("bgra8", np.dstack([RGB[..., ::-1], np.full(RGB.shape[:2], 9, np.uint8)]), RGB),
    ("mono8", GRAY, np.dstack([GRAY] * 3)),
    ("8UC1", GRAY, np.dstack([GRAY] * 3)),
])
@pytest.mark.parametrize("pad", [0, 3])
def test_8bit_encodings_decode_to_rgb(encoding, pixels, expected, pad):
    out = conv.image_msg_to_rgb(raw_msg(pixels, encoding, pad=pad))
    assert out.shape == (6, 5, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.array_equal(out, expected)


@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
@pytest.mark.parametrize("bigendian", [False, True])
def test_16bit_is_scaled_min_max(encoding, bigendian):
    depth = np.array([[1000, 2000], [3000, 1000]], np.uint16)
    out = conv.image_msg_to_rgb(raw_msg(depth, encoding, bigendian=bigendian, pad=2))
    assert out.shape == (2, 2, 3)
    assert out[0, 0, 0] == 0 and out[1, 0, 0] == 255 and out[0, 1, 0] in (127, 128)
    assert np.array_equal(out[..., 0], out[..., 2])
    flat = conv.image_msg_to_rgb(raw_msg(np.full((2, 2), 500, np.uint16), encoding))
    assert not flat.any()


@pytest.mark.parametrize("mutate, message", [
    (lambda m: setattr(m, "encoding", "yuv422"), "unsupported encoding 'yuv422'"),
    (lambda m: setattr(m, "height", 0), "zero-size"),
    (lambda m: setattr(m, "width", 0), "zero-size"),
    (lambda m: setattr(m, "step", 4), "step 4 is smaller"),
    (lambda m: setattr(m, "data", array.array("B", bytes(20))), "data has 20 bytes, expected height"),
    (lambda m: setattr(m, "data", array.array("B")), "data has 0 bytes"),
])
def test_bad_images_raise_clear_errors(mutate, message):
    msg = raw_msg(RGB, "rgb8")
    mutate(msg)
    with pytest.raises(conv.ImageConversionError, match=message):
        conv.image_msg_to_rgb(msg)


def test_rosbags_messages_decode_too():
    rosbags = pytest.importorskip("rosbags.typesys")
    typestore = rosbags.get_typestore(rosbags.Stores.ROS2_HUMBLE)
    ImageT = typestore.types["sensor_msgs/msg/Image"]
    Header = typestore.types["std_msgs/msg/Header"]
    Time = typestore.types["builtin_interfaces/msg/Time"]
    bgr = RGB[..., ::-1].copy()
    msg = ImageT(header=Header(stamp=Time(sec=1, nanosec=2), frame_id="cam"), height=6, width=5, encoding="bgr8",
                 is_bigendian=0, step=15, data=bgr.reshape(-1))
    assert np.array_equal(conv.image_msg_to_rgb(msg), RGB)


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_compressed_roundtrip(ext):
    big = cv2.resize(RGB, (64, 48), interpolation=cv2.INTER_NEAREST)
    ok, buf = cv2.imencode(ext, cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    msg = CompressedImage(format="jpeg" if ext == ".jpg" else "png")
    msg.data = array.array("B", buf.tobytes())
    out = conv.compressed_msg_to_rgb(msg)
    assert out.shape == (48, 64, 3)
    if ext == ".png":
        assert np.array_equal(out, big)
    else:
        assert np.abs(out.astype(int) - big.astype(int)).mean() < 12


@pytest.mark.parametrize("data, fmt, message", [
    (b"", "jpeg", "empty compressed image"),
    (b"\xff\xd8\xff\xe0 this is not a jpeg" * 3, "jpeg", "cannot decode"),
    (b"\x00" * 50, "16UC1; compressedDepth png", "compressedDepth"),
])
def test_corrupt_compressed_images_raise(data, fmt, message):
    msg = CompressedImage(format=fmt)
    msg.data = array.array("B", data)
    with pytest.raises(conv.ImageConversionError, match=message):
        conv.compressed_msg_to_rgb(msg)


def test_output_images_roundtrip_with_header():
    from std_msgs.msg import Header
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 34
    label = RNG.integers(0, 2**31 - 1, (7, 9)).astype(np.int32)
    msg = conv.panoptic_label_msg(label, header)
    assert (msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian) == ("32SC1", 7, 9, 36, 0)
    assert np.array_equal(np.frombuffer(msg.data, np.int32).reshape(7, 9), label)
    assert msg.header.frame_id == "cam" and msg.header.stamp.sec == 12 and msg.header.stamp.nanosec == 34
    bgr = conv.rgb_to_bgr8_msg(RGB, header)
    assert bgr.encoding == "bgr8" and bgr.step == 15
    assert np.array_equal(conv.image_msg_to_rgb(bgr), RGB)


def test_semantic_image_8_and_16_bit():
    pan = np.array([[0, 1], [2, 2]], np.int32)
    segments = [{"id": 1, "category_id": 3}, {"id": 2, "category_id": 0}]
    sem = semantic_from_panoptic(pan, segments, num_classes=4)
    assert sem.dtype == np.uint8 and sem.tolist() == [[255, 3], [0, 0]]
    assert conv.semantic_msg(sem).encoding == "mono8"
    sem16 = semantic_from_panoptic(pan, [{"id": 1, "category_id": 300}, {"id": 2, "category_id": 0}], 400)
    assert sem16.dtype == np.uint16 and sem16.tolist() == [[65535, 300], [0, 0]]
    msg = conv.semantic_msg(sem16)
    assert msg.encoding == "16UC1" and np.array_equal(np.frombuffer(msg.data, np.uint16).reshape(2, 2), sem16)


def test_instances_agree_with_the_label_image():
    """A real fuse() result: every instance's area, tight bbox and centroid match its label pixels."""
    cats = CategoryMap([Category(1, "person", True, (220, 20, 60)), Category(2, "road", False, (128, 64, 128))])
    h, w = 40, 50
    logits = torch.zeros((2, h, w))
    logits[0, :25] = 2.0
    logits[1, 25:] = 3.0
    boxes = torch.tensor([[2.0, 3.0, 20.0, 30.0], [15.0, 5.0, 40.0, 24.0]])
    result = fuse(logits, boxes, torch.tensor([0.9, 0.8]), torch.tensor([0, 0]), thing_mask=cats.thing_mask,
                  policy="highest_confidence", stuff_area_threshold=0)
    pan = result.panoptic.numpy()
    msg = conv.instances_msg(pan, result.segments, cats)
    assert (msg.height, msg.width) == (h, w)
    assert sorted(i.id for i in msg.instances) == sorted(np.unique(pan[pan > 0]).tolist())
    assert len(msg.instances) == 3
    for inst in msg.instances:
        ys, xs = np.nonzero(pan == inst.id)
        assert inst.area == len(xs)
        assert (inst.bbox.x_offset, inst.bbox.y_offset) == (xs.min(), ys.min())
        assert (inst.bbox.width, inst.bbox.height) == (xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
        assert inst.centroid.x == pytest.approx(xs.mean()) and inst.centroid.y == pytest.approx(ys.mean())
        assert inst.label == cats.category(inst.class_index).name
        assert inst.is_thing == cats.category(inst.class_index).isthing
        assert inst.category_id == cats.category(inst.class_index).id      # the dataset's id, not the channel
        assert inst.score == pytest.approx(0.9 if inst.id == 2 else (0.8 if inst.is_thing else 1.0), abs=1e-6)
    empty = conv.instances_msg(np.zeros((3, 4), np.int32), [], cats)
    assert empty.instances == [] and (empty.height, empty.width) == (3, 4)
