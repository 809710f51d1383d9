"""Training, evaluation and inference loops (no ROS): `panoptic train / eval / predict` build on these.

trainer.Trainer (AdamW + step decay, AMP on CUDA, DDP under torchrun, checkpoints, resume), evaluator.evaluate_model
(PQ / mIoU / box AP / FPS per merge policy), inference (checkpoint loading, image lists), distributed, seed,
train_state (resumable optimizer/scheduler state), train_log (TensorBoard, JSON).
"""
