"""Training, evaluation and inference loops (no ROS): `panoptic train / eval / predict` build on these.

trainer.Trainer (AdamW + step decay, AMP on CUDA, DDP under torchrun, checkpoints, resume), dataset_eval.evaluate_model
(PQ / mIoU / box AP / FPS per merge policy, on panoptic_ros.pipeline), prediction_files (image lists, JSON
segments), distributed, seed,
train_state (resumable optimizer/scheduler state), train_log (TensorBoard, JSON).
"""
