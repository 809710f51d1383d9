"""Evaluation: panoptic quality (COCO reference semantics), semantic mIoU and box AP (pycocotools)."""
from .box_ap import BoxAPEvaluator
from .pq import PQEvaluator, PQInputError, PQStat, format_table, pq_compute, pq_single, result_to_coco, summarize
from .semantic import SemanticEvaluator

__all__ = ["BoxAPEvaluator", "PQEvaluator", "PQInputError", "PQStat", "format_table", "pq_compute", "pq_single",
           "result_to_coco", "summarize", "SemanticEvaluator"]
