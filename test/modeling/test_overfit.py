"""The whole network learns: on a fixed tiny batch every loss part falls by a large factor, and the pipeline
then finds the objects it was shown."""
import copy

import pytest

from panoptic_ros.modeling import build_model
from panoptic_ros.pipeline import build_pipeline


@pytest.mark.slow
def test_losses_drop_on_a_fixed_tiny_batch_and_predict_finds_the_objects(smoke_cfg, categories, scenes,
                                                                         train_on_scenes):
    model = build_model(smoke_cfg, categories)
    history = train_on_scenes(model, lr=smoke_cfg.solver.lr, steps=35)
    images, targets = [list(x) for x in zip(*scenes)]
    first, last = history[0], history[-1]
    for key, factor in (("loss_cls", 10), ("loss_box", 2.5), ("loss_sem", 3), ("loss_offset", 4), ("loss", 3)):
        assert last[key] < first[key] / factor, (key, first[key], last[key])
    # centerness BCE cannot go below the entropy of its soft targets; it must still improve
    assert last["loss_ctr"] < first["loss_ctr"] - 0.03

    # end to end at the training resolution: the center pixel of every object is a thing segment of its class
    for image, target in zip(images, targets):
        inference = copy.deepcopy(smoke_cfg.inference)
        inference.input_size = min(image.shape[-2:])
        inference.stuff_area_threshold = 64
        (result,) = build_pipeline(model, runtime="torch", device="cpu").predict([image], inference=inference)
        assert result.panoptic.shape == image.shape[-2:]
        segments = {s["id"]: s for s in result.segments}
        for (x1, y1, x2, y2), label in zip(target["boxes"].int().tolist(), target["labels"].tolist()):
            seg = segments.get(int(result.panoptic[(y1 + y2) // 2, (x1 + x2) // 2]))
            assert seg is not None and seg["isthing"] and seg["category_id"] == label, (x1, y1, seg)
        road = [sid for sid, s in segments.items() if not s["isthing"] and s["category_id"] == 2]
        assert len(road) == 1
        assert (result.panoptic[-3:] == road[0]).float().mean() > 0.5  # the bottom rows are mostly road
