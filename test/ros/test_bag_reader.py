"""ImageBagReader / BagWriter on bags written by rosbags (mcap and sqlite3): frames, stamps, bad records, errors."""
import shutil

import numpy as np
import pytest

from panoptic_ros.ros.bag.make_sample import image_message
from panoptic_ros.ros.bag.reader import BagError, ImageBagReader, header_stamp_ns, set_header_stamp
from panoptic_ros.ros.bag.writer import BagWriter

TOPIC = "/camera/image_raw"
H, W = 24, 32


def _header(T, stamp_ns, frame_id="cam"):
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id=frame_id)


def _rgb(seed):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def write_bag(path, storage, *, bad=(), encoding="rgb8"):
    """Five frames on TOPIC (frame i: stamp 100 s + i ms, image _rgb(i)), a String topic, and the bad
    records named in `bad` at positions 1 ("short": data shorter than height*step, "garbage": undecodable
    CDR) and 3 ("zero": 0x0 image)."""
    topics = {TOPIC: "sensor_msgs/msg/Image", "/chatter": "std_msgs/msg/String"}
    if encoding in ("jpeg", "png"):
        topics = {TOPIC: "sensor_msgs/msg/CompressedImage", "/chatter": "std_msgs/msg/String"}
    with BagWriter(path, topics, storage=storage) as w:
        T = w.store.types
        w.write("/chatter", 1, T["std_msgs/msg/String"](data="hello"))
        for i in range(5):
            stamp = 100 * 10**9 + i * 10**6
            msg = image_message(T, _header(T, stamp), _rgb(i), encoding)
            if i == 1 and "short" in bad:
                msg.data = msg.data[: len(msg.data) // 2]
            if i == 1 and "badjpeg" in bad:
                msg.data = np.frombuffer(b"\xff\xd8not a jpeg at all", np.uint8)
            if i == 3 and "zero" in bad:
                msg.height, msg.width, msg.step, msg.data = 0, 0, 0, np.zeros(0, np.uint8)
            data = w.store.serialize_cdr(msg, topics[TOPIC])
            if i == 1 and "garbage" in bad:
                data = b"\x00\x01\x00\x00" + b"\xff" * 7
            w.write(TOPIC, stamp + 5, data)
    return path


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "png"])
def test_reads_frames_with_stamps(tmp_path, storage, encoding):
    bag = write_bag(tmp_path / "bag", storage, encoding=encoding)
    with ImageBagReader(bag) as reader:
        assert reader.requested == [TOPIC]
        assert reader.storage == storage
        frames = list(reader.frames())
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [f.stamp_ns for f in frames] == [100 * 10**9 + i * 10**6 for i in range(5)]
    assert [f.log_time_ns - f.stamp_ns for f in frames] == [5] * 5
    assert all(f.frame_id == "cam" and f.topic == TOPIC for f in frames)
    for i, f in enumerate(frames):
        assert f.image.shape == (H, W, 3) and f.image.dtype == np.uint8
        np.testing.assert_array_equal(f.image, _rgb(i))  # decoded back to RGB whatever the encoding


def test_reads_storage_file_directly(tmp_path):
    bag = write_bag(tmp_path / "bag", "mcap")
    with ImageBagReader(next(bag.glob("*.mcap")), TOPIC) as reader:
        assert len(list(reader.frames())) == 5


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("bad,reason", [(("short", "zero"), None), (("garbage",), "undecodable message")])
def test_bad_records_are_skipped_and_counted(tmp_path, storage, bad, reason):
    bag = write_bag(tmp_path / "bag", storage, bad=bad)
    with ImageBagReader(bag, TOPIC) as reader:
        frames = list(reader.frames())
    skipped = {1, 3} if "zero" in bad else {1}
    assert [f.index for f in frames] == [i for i in range(5) if i not in skipped]
    assert reader.skipped.total == len(skipped)
    assert sorted(e["index"] for e in reader.skipped.examples) == sorted(skipped)
    if reason:
        assert reason in reader.skipped.counts


def test_corrupt_jpeg_is_skipped(tmp_path):
    bag = write_bag(tmp_path / "bag", "mcap", bad=("badjpeg",), encoding="jpeg")
    with ImageBagReader(bag) as reader:
        frames = list(reader.frames())
    assert [f.index for f in frames] == [0, 2, 3, 4]
    assert reader.skipped.total == 1


def test_unknown_topic_names_the_topics(tmp_path):
    bag = write_bag(tmp_path / "bag", "mcap")
    with pytest.raises(BagError, match=r"'/nope' is not in bag.*/camera/image_raw"):
        ImageBagReader(bag, "/nope").open()


def test_non_image_topic_is_rejected(tmp_path):
    bag = write_bag(tmp_path / "bag", "sqlite3")
    with pytest.raises(BagError, match=r"std_msgs/msg/String, not an image"):
        ImageBagReader(bag, "/chatter").open()


def test_bag_without_images_is_rejected(tmp_path):
    with BagWriter(tmp_path / "bag", {"/chatter": "std_msgs/msg/String"}) as w:
        w.write("/chatter", 1, w.store.types["std_msgs/msg/String"](data="x"))
    with pytest.raises(BagError, match="no image topics"):
        ImageBagReader(tmp_path / "bag").open()


@pytest.mark.parametrize("storage,suffix", [("mcap", ".mcap"), ("sqlite3", ".db3")])
def test_truncated_bag_is_a_clear_error(tmp_path, storage, suffix):
    bag = write_bag(tmp_path / "bag", storage)
    data_file = next(bag.glob(f"*{suffix}"))
    data = data_file.read_bytes()
    data_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(BagError, match=r"cannot read bag|corrupt or truncated"):
        with ImageBagReader(bag) as reader:
            list(reader.frames())


def test_garbled_and_missing_bags_are_clear_errors(tmp_path):
    bag = write_bag(tmp_path / "bag", "mcap")
    data_file = next(bag.glob("*.mcap"))
    raw = bytearray(data_file.read_bytes())
    for i in range(100, len(raw), 97):
        raw[i] ^= 0xFF
    data_file.write_bytes(bytes(raw))
    with pytest.raises(BagError, match=str(bag.name)):
        with ImageBagReader(bag) as reader:
            list(reader.frames())
    with pytest.raises(BagError, match="bag not found"):
        ImageBagReader(tmp_path / "missing").open()
    shutil.rmtree(bag)
    bag.mkdir()
    with pytest.raises(BagError, match="metadata"):
        ImageBagReader(bag).open()


def test_header_stamp_patching_round_trip(tmp_path):
    bag = write_bag(tmp_path / "bag", "mcap")
    with ImageBagReader(bag) as reader:
        rec = next(reader.records())
        store = reader._typestore
    assert header_stamp_ns(rec.data) == 100 * 10**9
    patched = set_header_stamp(rec.data, 7 * 10**9 + 123)
    msg = store.deserialize_cdr(patched, rec.msgtype)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (7, 123)
    assert msg.header.frame_id == "cam" and msg.width == W
