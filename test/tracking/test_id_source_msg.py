"""PanopticInstance.id_source carries how the tracker obtained each id (new / continued / re-identified), and bag
tools read it back."""
import numpy as np
import torch

from panoptic_ros.config import InferenceConfig
from panoptic_ros.data.synth import CATEGORIES
from panoptic_ros.panoptic.result import PanopticResult
from panoptic_ros.ros import conversions as conv
from panoptic_ros.tracking import PanopticTracker


def test_id_source_in_the_instance_message():
    from panoptic_ros.msg import PanopticInstance

    def frame(x):
        pan = np.ones((40, 80), np.int32)
        segs = [{"id": 1, "category_id": 5, "isthing": False, "score": 1.0, "bbox": [0, 0, 80, 40], "area": 1}]
        image = np.full((40, 80, 3), 100, np.uint8)
        if x is not None:
            pan[10:22, x:x + 12] = 2
            image[10:22, x:x + 12] = (200, 40, 40)
            segs.append({"id": 2, "category_id": 0, "isthing": True, "score": 0.9, "bbox": [x, 10, 12, 12],
                         "area": 144})
        return PanopticResult(torch.from_numpy(pan), segs), image

    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES)
    sources = []
    for t, x in enumerate([20, 20, 20] + [None] * 15 + [20]):   # seen 3 frames: remembered
        res, image = frame(x)
        out = tracker.update(res, t / 10, image=image)
        msg = conv.instances_msg(out.panoptic.numpy(), out.segments, CATEGORIES)
        things = [i for i in msg.instances if i.is_thing]
        stuff = [i for i in msg.instances if not i.is_thing]
        assert all(i.id_source == PanopticInstance.ID_SOURCE_NONE for i in stuff)
        if things:
            sources.append(things[0].id_source)
            assert conv.instance_array_records(msg)[[r["is_thing"] for r in conv.instance_array_records(msg)]
                                                    .index(True)]["id_source"] == things[0].id_source
    assert sources == [PanopticInstance.ID_SOURCE_NEW, PanopticInstance.ID_SOURCE_CONTINUED,
                       PanopticInstance.ID_SOURCE_CONTINUED, PanopticInstance.ID_SOURCE_REIDENTIFIED]
    off = conv.instances_msg(res.panoptic.numpy(), res.segments, CATEGORIES)     # tracking off: no source
    assert all(i.id_source == PanopticInstance.ID_SOURCE_NONE for i in off.instances)
