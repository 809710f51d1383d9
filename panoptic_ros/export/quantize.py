"""INT8 post-training quantization of an exported network, calibrated on images prepared exactly as the pipeline
prepares them (modeling.preprocess.network_input: resize, ImageNet normalisation, padding). Calibrating on
un-normalised pixels was measured to drop PQ from 79.9 to 30: the activation ranges must be the real ones.

onnxruntime: quant_pre_process, then quantize_static (QDQ, per-channel int8 weights, uint8 activations, MinMax,
every layer; keeping the prediction convs in fp32 was measured to gain no PQ and lose a third of the speed-up).
openvino: NNCF post-training quantization (nncf.quantize, default preset) of the fp32 IR.
Calibration set: a folder of images, or by default CALIBRATION_IMAGES synthetic scenes rendered on the fly
(panoptic_ros.data.synth, seed CALIBRATION_SEED: the training split's scenes, half normal, half heavy overlap).
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
from pathlib import Path

import numpy as np

from ..data.synth import render_scene
from ..modeling.checkpoint import sidecar_config
from ..modeling.preprocess import network_input
from .common import import_package
from .sidecar import METADATA_KEY, read_export_sidecar, to_text, write_json

log = logging.getLogger(__name__)

CALIBRATION_IMAGES = 32
CALIBRATION_SEED = 1
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def calibration_images(folder: str | Path = "") -> list[np.ndarray]:
    """uint8 HxWx3 RGB images: every image file of ``folder`` (sorted by name), or the default synthetic set."""
    if not str(folder):
        return [render_scene(np.random.default_rng([CALIBRATION_SEED, i]), 640, 480,
                             "heavy" if i % 2 else "normal")[0] for i in range(CALIBRATION_IMAGES)]
    import cv2

    files = _image_files(folder)
    images = []
    for f in files:
        bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"calibration image {f} cannot be read")
        images.append(np.ascontiguousarray(bgr[:, :, ::-1]))
    return images


def calibration_key(folder: str | Path = "") -> str:
    """sha256 of the calibration set: the default's recipe, or the names and bytes of the folder's images."""
    digest = hashlib.sha256()
    if not str(folder):
        digest.update(f"synth seed={CALIBRATION_SEED} n={CALIBRATION_IMAGES} 640x480 normal/heavy".encode())
        return digest.hexdigest()
    for f in _image_files(folder):
        digest.update(f.name.encode())
        digest.update(hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()


def _image_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"calibration folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"calibration folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def calibration_batches(exported: Path, folder: str | Path = "") -> list[np.ndarray]:
    """The network inputs [1, 3, H, W] float32 of the calibration set for an exported model (its own config)."""
    cfg = sidecar_config(read_export_sidecar(exported), exported)
    return [network_input(image, cfg).numpy() for image in calibration_images(folder)]


def quantize_onnx(fp32: Path, out: Path, calibration: str | Path = "") -> Path:
    """fp32 .onnx -> int8 QDQ .onnx at ``out`` (with its description and .json)."""
    import_package("onnxruntime", "int8 quantization for onnxruntime")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnx = import_package("onnx", "int8 quantization")
    batches = calibration_batches(fp32, calibration)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(batches)

        def get_next(self):
            batch = next(self.items, None)
            return None if batch is None else {"images": batch}

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="panoptic_quant_") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        with _quiet_root_logger():  # one "Axis 1 is out-of-range" warning per rank-1 constant (harmless)
            quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    sidecar = _int8_sidecar(fp32, calibration, "onnxruntime.quantization.quantize_static (QDQ, per-channel)")
    proto = onnx.load(str(out))
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {METADATA_KEY: to_text(sidecar)})
    onnx.save(proto, str(out))
    write_json(out, sidecar)
    log.info("int8 (onnxruntime QDQ) calibrated on %d images: %s", len(batches), out)
    return out


def quantize_openvino(fp32: Path, out: Path, calibration: str | Path = "") -> Path:
    """fp32 OpenVINO .xml (or .onnx) -> int8 IR at ``out`` by NNCF post-training quantization."""
    ov = import_package("openvino", "int8 quantization for openvino")
    nncf = import_package("nncf", "int8 quantization for openvino")
    batches = calibration_batches(fp32, calibration)
    model = ov.Core().read_model(str(fp32))
    quantized = nncf.quantize(model, nncf.Dataset(batches), subset_size=len(batches))
    sidecar = _int8_sidecar(fp32, calibration, "nncf.quantize (post-training, default preset)")
    sidecar["export"]["format"] = "openvino"
    quantized.set_rt_info(to_text(sidecar), [METADATA_KEY])
    out.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out), compress_to_fp16=False)
    write_json(out, sidecar)
    log.info("int8 (NNCF) calibrated on %d images: %s", len(batches), out)
    return out


def _int8_sidecar(fp32: Path, calibration: str | Path, method: str) -> dict:
    sidecar = read_export_sidecar(fp32)
    sidecar["export"] = {**sidecar.get("export", {}), "precision": "int8", "quantization": method,
                         "calibration": str(calibration) or f"synthetic ({CALIBRATION_IMAGES} scenes, seed "
                         f"{CALIBRATION_SEED})", "calibration_sha256": calibration_key(calibration)}
    return sidecar


@contextlib.contextmanager
def _quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def is_int8(exported: Path) -> bool:
    """Whether an exported file is already int8-quantized (its description says so)."""
    return read_export_sidecar(exported).get("export", {}).get("precision") == "int8"
