"""panoptic_ros.pipeline: the one staged inference path (preprocess -> runtime -> detections -> mapping -> merge).

build_pipeline(source, runtime=, precision=, device=, inference=) -> PanopticPipeline; resolve_model_path().
"""
from .inputs import PreparedBatch, input_limits, prepare_batch
from .pipeline import Detections, PanopticPipeline, PipelineRun, build_pipeline, decode_detections, resolve_model_path
from .timing import STAGES, StageTimer

__all__ = ["Detections", "PanopticPipeline", "PipelineRun", "PreparedBatch", "STAGES", "StageTimer", "build_pipeline",
           "decode_detections", "input_limits", "prepare_batch", "resolve_model_path"]
