"""The staged pipeline: one network pass for several policies, stage timing, the three fuse resolutions and
their agreement with the exact path, and the model-path resolver."""
import copy

import numpy as np
import pytest
import torch

from panoptic_ros.data.synth import render_scene
from panoptic_ros.modeling import default_model_path, load_checkpoint
from panoptic_ros.modeling import preprocess as pre
from panoptic_ros.panoptic import fuse
from panoptic_ros.pipeline import STAGES, PanopticPipeline, resolve_model_path
from panoptic_ros.pipeline.mapping import MappedImage, output_stride, to_image


class CountingRuntime:
    """The shipped model's forward_raw as a runtime, counting network passes (no dependency on
    panoptic_ros.runtime, so these tests isolate the pipeline)."""

    name, precision = "counting", "fp32"

    def __init__(self, model):
        self.model, self.cfg, self.categories, self.device = model, model.cfg, model.categories, model.device
        self.calls = 0

    def __call__(self, images):
        self.calls += 1
        with torch.inference_mode():
            return self.model.forward_raw(images)


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(default_model_path(), device="cpu")


@pytest.fixture(scope="module")
def scenes():
    rng = np.random.default_rng(5)
    return [render_scene(rng, 320, 240)[0] for _ in range(3)]


def _inference(model, **changes):
    inf = copy.deepcopy(model.cfg.inference)
    for k, v in changes.items():
        setattr(inf, k, v)
    return inf


def test_one_network_pass_serves_every_policy_and_times_each_stage(model, scenes):
    runtime = CountingRuntime(model)
    pipe = PanopticPipeline(runtime, inference=_inference(model, fuse_resolution="image"))
    policies = ["highest_confidence", "smallest_first", "closest_center"]
    run = pipe.run(scenes[:2], policies=policies, semantic=True)
    assert runtime.calls == 1
    assert set(run.results) == set(policies) and all(len(v) == 2 for v in run.results.values())
    assert set(run.stage_seconds("smallest_first")) == set(STAGES)
    assert all(v > 0 for v in run.stage_seconds("closest_center").values())
    assert run.latency("closest_center") == pytest.approx(sum(run.stage_seconds("closest_center").values()))
    for policy in policies:  # the same as one run per policy
        alone = pipe.predict(scenes[:2], inference=_inference(model, fuse_resolution="image", merge_policy=policy))
        for a, b in zip(run.results[policy], alone):
            assert torch.equal(a.panoptic, b.panoptic) and a.segments == b.segments
    assert run.semantic[0].shape == scenes[0].shape[:2]


def test_image_resolution_path_is_fuse_on_upsampled_logits(model, scenes):
    """fuse_resolution=image is the exact research formulation: logits and offsets bilinearly mapped to the image,
    boxes rescaled, fuse() there. Rebuilt here by hand from the network outputs."""
    runtime = CountingRuntime(model)
    inf = _inference(model, fuse_resolution="image", merge_policy="closest_center")
    pipe = PanopticPipeline(runtime, inference=inf)
    run = pipe.run([scenes[0]])
    raw = runtime(run.prepared.images)
    in_size, out_size = run.prepared.input_sizes[0], run.prepared.original_sizes[0]
    sy, sx = in_size[0] / out_size[0], in_size[1] / out_size[1]
    stride = model.output_stride                              # 4 (research layout) or 8 (fast layout)
    semantic = pre.stride_to_image(raw["semantic"][0], in_size, out_size, stride)
    offsets = pre.stride_to_image(raw["offsets"][0], in_size, out_size, stride) / torch.tensor([sx, sy]).view(2, 1, 1)
    d = run.detections[0]
    assert len(d.scores) > 0
    expected = fuse(semantic, d.boxes / torch.tensor([sx, sy, sx, sy]), d.scores, d.labels,
                    thing_mask=model.thing_mask, policy="closest_center", center_offsets=offsets,
                    stuff_area_threshold=inf.stuff_area_threshold)
    got = run.results["closest_center"][0]
    assert (got.panoptic == expected.panoptic).float().mean() > 0.999
    assert len(got.segments) == len(expected.segments)


@pytest.mark.parametrize("resolution", ["input", "output"])
def test_low_resolution_fuse_agrees_with_the_exact_path(model, scenes, resolution):
    pipe = PanopticPipeline(CountingRuntime(model))
    exact = pipe.predict(scenes, inference=_inference(model, fuse_resolution="image"))
    fast = pipe.predict(scenes, inference=_inference(model, fuse_resolution=resolution))
    for a, b in zip(exact, fast):
        assert b.panoptic.shape == a.panoptic.shape
        # same semantics per pixel (segment ids may be numbered differently)
        agree = (a.category_map() == b.category_map()).float().mean().item()
        assert agree > (0.97 if resolution == "input" else 0.93), agree
        assert {s["category_id"] for s in a.segments if not s["isthing"]} == \
            {s["category_id"] for s in b.segments if not s["isthing"]}
        # areas and boxes are those of the image-resolution map
        for seg in b.segments:
            mask = b.panoptic == seg["id"]
            assert int(mask.sum()) == seg["area"]
            ys, xs = torch.nonzero(mask, as_tuple=True)
            assert seg["bbox"] == [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                                   int(ys.max() - ys.min() + 1)]


def test_output_grid_maps_back_by_pixel_centers():
    """A 2x3 grid at stride 4 of a 8x12 input, shown on a 16x24 image: each grid cell covers 4x4 image pixels."""
    grid = torch.arange(6, dtype=torch.int32).view(2, 3)
    mapped = MappedImage(semantic=torch.zeros(1, 2, 3), offsets=None, boxes=torch.zeros(0, 4), scale=(0.25, 0.25),
                         input_size=(8, 12), image_size=(16, 24))
    image = to_image(grid, mapped)
    assert image.shape == (16, 24)
    assert torch.equal(image, grid.repeat_interleave(8, 0).repeat_interleave(8, 1))


def test_output_stride_is_read_from_shapes():
    assert output_stride(torch.zeros(1, 3, 32, 48), (128, 192)) == 4
    assert output_stride(torch.zeros(1, 3, 16, 24), (128, 192)) == 8
    with pytest.raises(ValueError, match="integer stride"):
        output_stride(torch.zeros(1, 3, 30, 48), (128, 192))


def test_model_path_resolver(tmp_path):
    assert resolve_model_path(None) == default_model_path()
    assert resolve_model_path("") == default_model_path()
    with pytest.raises(FileNotFoundError, match="nothere.safetensors"):
        resolve_model_path(tmp_path / "nothere.safetensors")


def test_input_grid_keeps_only_deciding_channels_without_changing_the_result(model, monkeypatch):
    """COCO scale (133 classes, ~100 detections): fusing on the channels that can decide a pixel gives the same
    map as fusing on all channels at the same grid."""
    import panoptic_ros.pipeline.pipeline as pipeline_module
    from panoptic_ros.bench.head import SyntheticRuntime

    runtime = SyntheticRuntime(model.cfg, 133, 80, 100, seed=1, device="cpu")
    pipe = PanopticPipeline(runtime, inference=_inference(model, fuse_resolution="input"))
    image = np.zeros((360, 640, 3), np.uint8)
    run = pipe.run([image], semantic=True)
    subset = run.results[pipe.inference.merge_policy][0]
    assert len(run.detections[0].scores) >= 50
    mapped = pipe.map_outputs(runtime(run.prepared.images), run.prepared, run.detections, pipe.inference, True)
    assert 0 < len(mapped[0].channels) < 133
    monkeypatch.setattr(pipeline_module, "decision_channels", lambda semantic, *a: torch.arange(semantic.shape[0]))
    full = pipe.predict([image])[0]
    assert (subset.panoptic == full.panoptic).float().mean() > 0.999
    assert len(subset.segments) == len(full.segments)


def test_build_pipeline_applies_inference_overrides():
    from panoptic_ros.config import ConfigError
    from panoptic_ros.pipeline import build_pipeline

    pipeline = build_pipeline(None, runtime="torch", device="cpu", precision="fp32",
                              overrides={"merge_policy": "mask_heuristic", "score_threshold": 0.25})
    assert pipeline.inference.merge_policy == "mask_heuristic" and pipeline.inference.score_threshold == 0.25
    pipeline.check_policy("mask_heuristic")
    with pytest.raises(ConfigError, match="merge_policy"):
        build_pipeline(None, runtime="torch", device="cpu", overrides={"merge_policy": "nope"})


def test_build_pipeline_hands_the_configured_thread_count_to_the_runtime():
    """inference.num_threads (config, --threads, the node's num_threads parameter) reaches the network runtime, from
    a whole InferenceConfig as from the command line's overrides."""
    from panoptic_ros.config import InferenceConfig
    from panoptic_ros.pipeline import build_pipeline

    pipe = build_pipeline(None, runtime="onnxruntime", precision="fp32", inference=InferenceConfig(num_threads=1))
    assert pipe.runtime.num_threads == 1 and pipe.runtime.session_options.intra_op_num_threads == 1
    pipe = build_pipeline(None, runtime="torch", precision="fp32", overrides={"num_threads": 1})
    assert pipe.runtime.num_threads == 1


class RecordingRuntime(CountingRuntime):
    """CountingRuntime that records the torch thread count it ran under (no preference of its own)."""

    def __init__(self, model):
        super().__init__(model)
        self.seen = []

    def __call__(self, images):
        self.seen.append(torch.get_num_threads())
        return super().__call__(images)


class SingleThreadHostRuntime(RecordingRuntime):
    """A runtime whose network is not torch: it asks for 1 torch thread around it."""

    def host_threads(self):
        return 1


def test_the_stages_around_a_foreign_network_run_on_the_torch_threads_the_runtime_asks_for(model, scenes):
    """Pre- and post-processing run on runtime.host_threads() torch threads (1 next to onnxruntime / openvino:
    OpenMP workers that busy-wait lose badly on a shared CPU), and the process's setting comes back after."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        single, plain = SingleThreadHostRuntime(model), RecordingRuntime(model)
        PanopticPipeline(single).run(scenes[:1])
        assert single.seen == [1] and torch.get_num_threads() == 2
        PanopticPipeline(plain).run(scenes[:1])      # no preference: the process's setting
        assert plain.seen == [2]
    finally:
        torch.set_num_threads(before)


def test_exported_runtimes_want_one_host_thread_and_torch_keeps_its_own():
    from panoptic_ros.pipeline import build_pipeline

    assert build_pipeline(None, runtime="onnxruntime", precision="fp32").host_threads() == 1
    assert build_pipeline(None, runtime="torch", precision="fp32").host_threads() == torch.get_num_threads()
