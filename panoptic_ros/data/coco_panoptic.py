"""COCO panoptic format: id <-> RGB encoding, PNG/JSON reading and writing, and the training dataset.

Folder layout ("COCO panoptic layout") read by :class:`CocoPanopticDataset` from a root ``DIR``::

    DIR/images/<images[].file_name>          RGB image (.jpg or .png)
    DIR/panoptic/<annotations[].file_name>   PNG, segment id = R + 256*G + 256^2*B, 0 = void
    DIR/panoptic.json                        {"images", "annotations", "categories"}

Cityscapes works through the same format once converted with cityscapesscripts' ``createPanopticImgs``;
pass ``image_dir=leftImg8bit/val, ann_json=gtFine/cityscapes_panoptic_val.json,
ann_dir=gtFine/cityscapes_panoptic_val``: images are also looked up in a ``<city>/`` sub-folder
(the part of the file name before the first ``_``), and string image ids are accepted.

What real files contain, and how it is read (tested in test/data/test_real_files.py):

* grayscale (and 16-bit / CMYK) images are converted to 8-bit RGB by the decoder;
* EXIF orientation is applied (the image as a viewer shows it, as detectron2 reads COCO); when that image does
  not fit its panoptic PNG but the stored, unrotated pixels do, the annotation was made on the stored pixels
  and those are used (logged once per file);
* an image and PNG of different sizes otherwise are an error naming both files;
* ``file_name`` entries must be relative paths inside the dataset folders: absolute paths and ``..`` are
  refused with an error naming the entry (a JSON must not make the reader open files elsewhere).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import cv2
import numpy as np
import torch

from ..utils.json_io import write_json
from .categories import CategoryMap
from .image_limits import UnreadableImageHeader, encoded_image_size
from .targets import encode_targets

log = logging.getLogger(__name__)

VOID = 0
MAX_ID = 256 ** 3  # ids are stored in three 8-bit channels
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


# ----------------------------------------------------------------------------------------------- encoding
def rgb2id(color: np.ndarray) -> np.ndarray:
    """Panoptic PNG colours [H,W,3] (RGB) -> segment ids int32 [H,W] (id = R + 256*G + 256^2*B).

    A 2-D array is taken as ids already (as panopticapi does).
    """
    color = np.asarray(color)
    if color.ndim == 2:
        return color.astype(np.int32)
    if color.ndim != 3 or color.shape[2] < 3:
        raise ValueError(f"expected an HxWx3 colour array, got shape {color.shape}")
    c = color[..., :3].astype(np.int32)
    return c[..., 0] + 256 * c[..., 1] + 256 * 256 * c[..., 2]


def id2rgb(id_map: np.ndarray) -> np.ndarray:
    """Segment ids [H,W] -> panoptic PNG colours uint8 [H,W,3] (RGB)."""
    ids = np.asarray(id_map)
    if ids.size and (ids.min() < 0 or ids.max() >= MAX_ID):
        raise ValueError(f"segment ids must be in [0, {MAX_ID}), got [{ids.min()}, {ids.max()}]")
    ids = ids.astype(np.uint32, copy=False)
    rgb = np.empty(ids.shape + (3,), dtype=np.uint8)
    rgb[..., 0] = ids & 255
    rgb[..., 1] = (ids >> 8) & 255
    rgb[..., 2] = ids >> 16
    return rgb


def segments_from_id_map(id_map: np.ndarray, category_of: Callable[[int], int]) -> list[dict]:
    """segments_info for every non-void id of a map: {id, category_id, iscrowd: 0, bbox [x, y, w, h], area}.

    bbox is the tight box of the segment's pixels, w = x_max - x_min + 1 (COCO / panopticapi).
    """
    ids = np.asarray(id_map)
    h, w = ids.shape
    uniq = np.unique(ids)
    inv = np.searchsorted(uniq, ids)  # much faster than return_inverse / return_counts for few ids
    counts = np.bincount(inv.ravel(), minlength=len(uniq))
    rows = np.zeros((len(uniq), h), dtype=bool)
    cols = np.zeros((len(uniq), w), dtype=bool)
    rows[inv, np.arange(h)[:, None]] = True
    cols[inv, np.arange(w)[None, :]] = True
    y0, y1 = rows.argmax(1), h - rows[:, ::-1].argmax(1)
    x0, x1 = cols.argmax(1), w - cols[:, ::-1].argmax(1)
    out = []
    for j, sid in enumerate(uniq.tolist()):
        if sid == VOID:
            continue
        out.append({"id": int(sid), "category_id": int(category_of(int(sid))), "iscrowd": 0,
                    "bbox": [int(x0[j]), int(y0[j]), int(x1[j] - x0[j]), int(y1[j] - y0[j])],
                    "area": int(counts[j])})
    return out


# ----------------------------------------------------------------------------------------------- files
def _imread(path: str | Path, flags: int, what: str) -> np.ndarray:
    """cv2.imread with errors that name the file: FileNotFoundError if absent, ValueError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    data = cv2.imread(str(path), flags)
    if data is None:
        raise ValueError(f"{path}: not a readable {what} (corrupt or unsupported format)")
    return data


def read_image(path: str | Path, exif_orientation: bool = True) -> np.ndarray:
    """An image file -> uint8 [H,W,3] RGB (FileNotFoundError / ValueError name the file).

    Grayscale, palette, 16-bit and CMYK files are converted to 8-bit RGB; exif_orientation=False returns the
    stored pixels without turning them as the file's EXIF orientation tag says."""
    flags = cv2.IMREAD_COLOR if exif_orientation else cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    return cv2.cvtColor(_imread(path, flags, "image"), cv2.COLOR_BGR2RGB)


def png_size(path: str | Path) -> tuple[int, int] | None:
    """(height, width) from a PNG's header without decoding it; None when the header is not a readable PNG."""

    try:
        with open(path, "rb") as f:
            head = f.read(64)
        if not head.startswith(b"\x89PNG"):
            return None
        return encoded_image_size(head)
    except (OSError, UnreadableImageHeader):
        return None


def write_image(path: str | Path, image: np.ndarray, jpeg_quality: int = 95) -> None:
    """Write uint8 [H,W,3] RGB as JPEG (quality jpeg_quality) or PNG, by the file extension."""
    path = Path(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR), params):
        raise ValueError(f"{path}: could not write the image")


def read_panoptic_png(path: str | Path) -> np.ndarray:
    """A panoptic PNG -> segment ids int32 [H,W]."""
    data = _imread(path, cv2.IMREAD_UNCHANGED, "panoptic PNG")
    if data.dtype != np.uint8:
        raise ValueError(f"{path}: panoptic PNGs must be 8-bit per channel, got {data.dtype}")
    if data.ndim == 3:
        data = cv2.cvtColor(data[..., :3], cv2.COLOR_BGR2RGB)
    return rgb2id(data)


def write_panoptic_png(path: str | Path, id_map: np.ndarray) -> None:
    """Write segment ids [H,W] as a panoptic PNG."""
    path = Path(path)
    rgb = id2rgb(id_map.numpy() if isinstance(id_map, torch.Tensor) else id_map)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise ValueError(f"{path}: could not write the panoptic PNG")


def load_json(path: str | Path, what: str = "annotation file") -> Any:
    """Read a JSON file; missing or corrupt files raise an error that names the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: corrupt {what}, not valid JSON ({exc})") from None


def save_panoptic_json(path: str | Path, annotations: list[dict], categories: list[dict] | CategoryMap,
                       images: list[dict] | None = None, **extra: Any) -> None:
    """Write a COCO panoptic JSON (numpy scalars converted, atomically)."""
    if isinstance(categories, CategoryMap):
        categories = categories.to_coco()
    data: dict[str, Any] = dict(extra)
    if images is not None:
        data["images"] = images
    data["annotations"] = annotations
    data["categories"] = categories
    write_json(path, data, indent=None)


# ----------------------------------------------------------------------------------------------- index
@dataclass
class PanopticSample:
    """One image of a panoptic dataset: where its files are and its segments."""
    image_id: Any
    image_path: Path
    panoptic_path: Path
    segments_info: list[dict]
    height: int | None = None
    width: int | None = None
    file_name: str = ""


@dataclass
class PanopticJson:
    """A validated COCO panoptic JSON: categories, annotations by image id, image-id <-> file-name mapping."""
    path: Path
    categories: CategoryMap | None
    annotations: list[dict]
    images: dict[Any, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path, require_categories: bool = True) -> PanopticJson:
        path = Path(path)
        data = load_json(path, "panoptic annotation file")
        if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
            raise ValueError(f"{path}: not a COCO panoptic JSON (needs an 'annotations' list)")
        cats = data.get("categories")
        if require_categories and not isinstance(cats, list):
            raise ValueError(f"{path}: not a COCO panoptic JSON (needs a 'categories' list)")
        try:
            categories = CategoryMap.from_coco(cats) if cats else None
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: bad 'categories': {exc}") from None
        images = {}
        for img in data.get("images", []) or []:
            if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
                raise ValueError(f"{path}: every entry of 'images' needs 'id' and 'file_name', got {img!r}")
            check_relative_name(img["file_name"], f"{path}: images entry {img['id']!r}")
            images[img["id"]] = img
        seen = set()
        for ann in data["annotations"]:
            if not isinstance(ann, dict) or "image_id" not in ann or "file_name" not in ann \
                    or not isinstance(ann.get("segments_info"), list):
                raise ValueError(f"{path}: every annotation needs 'image_id', 'file_name' and a 'segments_info' "
                                 f"list, got {_short(ann)}")
            check_relative_name(ann["file_name"], f"{path}: annotation of image {ann['image_id']!r}")
            if ann["image_id"] in seen:
                raise ValueError(f"{path}: two annotations for image id {ann['image_id']!r}")
            seen.add(ann["image_id"])
            for seg in ann["segments_info"]:
                if not isinstance(seg, dict) or "id" not in seg or "category_id" not in seg:
                    raise ValueError(f"{path}: image {ann['image_id']!r}: every segment needs 'id' and "
                                     f"'category_id', got {seg!r}")
        return cls(path, categories, data["annotations"], images)

    @property
    def id_to_file_name(self) -> dict[Any, str]:
        """image id -> image file name (from 'images'; falls back to the annotation PNG name)."""
        out = {ann["image_id"]: ann["file_name"] for ann in self.annotations}
        out.update({i: img["file_name"] for i, img in self.images.items()})
        return out

    @property
    def file_name_to_id(self) -> dict[str, Any]:
        """image file name (and its stem) -> image id."""
        out = {}
        for image_id, name in self.id_to_file_name.items():
            out[name] = image_id
            out.setdefault(Path(name).stem, image_id)
        return out

    def annotation(self, image_id: Any) -> dict:
        for ann in self.annotations:
            if ann["image_id"] == image_id:
                return ann
        raise KeyError(f"{self.path}: no annotation for image id {image_id!r}")

    def samples(self, image_dir: str | Path, ann_dir: str | Path, check_files: bool = True) -> list[PanopticSample]:
        """Every annotated image with its image and PNG paths (errors name the missing file)."""
        image_dir, ann_dir = Path(image_dir), Path(ann_dir)
        out = []
        for ann in self.annotations:
            image_id = ann["image_id"]
            info = self.images.get(image_id, {})
            name = info.get("file_name") or ann["file_name"]
            try:
                image_path = find_image(image_dir, name) if check_files else image_dir / name
            except FileNotFoundError as exc:
                raise FileNotFoundError(f"{exc} (image {image_id!r} listed in {self.path})") from None
            pan_path = ann_dir / ann["file_name"]
            if check_files and not pan_path.is_file():
                raise FileNotFoundError(f"panoptic PNG of image {image_id!r} not found: {pan_path} "
                                        f"(listed in {self.path})")
            out.append(PanopticSample(image_id, image_path, pan_path, ann["segments_info"],
                                      info.get("height"), info.get("width"), name))
        return out


def find_image(image_dir: Path, file_name: str) -> Path:
    """image_dir/file_name, else image_dir/<city>/file_name (Cityscapes), else any image extension."""
    candidates = [image_dir / file_name]
    city = Path(file_name).name.split("_")[0]
    if city != Path(file_name).name:
        candidates.append(image_dir / city / file_name)
    stem = Path(file_name).with_suffix("")
    candidates += [image_dir / f"{stem}{ext}" for ext in IMAGE_EXTENSIONS]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(f"image not found: {image_dir / file_name}")


def resolve_layout(root: str | Path | None = None, image_dir: str | Path | None = None,
                   ann_json: str | Path | None = None, ann_dir: str | Path | None = None) -> tuple[Path, Path, Path]:
    """(image_dir, ann_json, ann_dir) from a root folder in COCO panoptic layout and/or explicit paths."""
    if root is None and (image_dir is None or ann_json is None):
        raise ValueError("give a dataset folder (root) or image_dir and ann_json")
    if root is not None:
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"dataset folder not found: {root}")
        image_dir = image_dir if image_dir is not None else root / "images"
        ann_json = ann_json if ann_json is not None else root / "panoptic.json"
        ann_dir = ann_dir if ann_dir is not None else root / "panoptic"
    ann_json = Path(ann_json)
    if ann_dir is None:  # panopticapi convention: X.json -> folder X
        ann_dir = ann_json.with_suffix("")
    image_dir, ann_dir = Path(image_dir), Path(ann_dir)
    for what, p in (("image folder", image_dir), ("panoptic PNG folder", ann_dir)):
        if not p.is_dir():
            raise FileNotFoundError(f"{what} not found: {p}")
    return image_dir, ann_json, ann_dir


def check_relative_name(name: Any, where: str) -> str:
    """A ``file_name`` from a JSON, checked to stay inside its folder: relative, no ``..`` (either separator).

    where names the entry in the error (file and image id)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: file_name must be a non-empty string, got {name!r}")
    win = PureWindowsPath(name)
    if PurePosixPath(name).is_absolute() or win.anchor:
        raise ValueError(f"{where}: file_name {name!r} is an absolute path; file names must be relative to the "
                         "dataset folder")
    if ".." in win.parts:
        raise ValueError(f"{where}: file_name {name!r} contains '..'; file names must stay inside the dataset "
                         "folder")
    return name


def _short(obj: Any, n: int = 120) -> str:
    s = repr(obj)
    return s if len(s) <= n else s[:n] + "..."


# ----------------------------------------------------------------------------------------------- dataset
Transform = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class CocoPanopticDataset(torch.utils.data.Dataset):
    """A dataset in COCO panoptic layout yielding ``(image float32 [3,H,W] 0..1 RGB, target dict)``.

    transforms: a callable ``(image uint8 HxWx3, id_map int32 HxW) -> (image, id_map)`` (see
    :mod:`panoptic_ros.data.transforms`) applied before the targets are derived, so boxes, semantic
    labels and center offsets always match the transformed image. See :func:`encode_targets` for the
    target keys; also "image_id", "file_name" and "orig_size" (H, W before transforms).
    """

    def __init__(self, root: str | Path | None = None, *, image_dir: str | Path | None = None,
                 ann_json: str | Path | None = None, ann_dir: str | Path | None = None,
                 transforms: Transform | None = None, compact: bool = False):
        self.image_dir, self.ann_json, self.ann_dir = resolve_layout(root, image_dir, ann_json, ann_dir)
        self.json = PanopticJson.load(self.ann_json)
        self.categories: CategoryMap = self.json.categories
        self.samples = self.json.samples(self.image_dir, self.ann_dir)
        self.transforms = transforms
        # compact: uint8 image [3,H,W] (the model converts it to float on its device), uint8 semantic and int32
        # instance map - about 4x fewer bytes per sample through the loader workers' shared memory
        self.compact = bool(compact) and len(self.categories) < 255

    def __len__(self) -> int:
        return len(self.samples)

    def load_image(self, idx: int) -> np.ndarray:
        """The untransformed image uint8 [H,W,3] RGB, in the geometry of its panoptic PNG (see the module
        docstring on EXIF orientation); ValueError naming both files when the sizes cannot agree."""
        s = self.samples[idx]
        image = read_image(s.image_path)
        expected = png_size(s.panoptic_path)
        if expected is None or image.shape[:2] == expected:
            return image
        stored = read_image(s.image_path, exif_orientation=False)
        if stored.shape[:2] == expected:
            if s.image_path not in _STORED_ORIENTATION_LOGGED:
                _STORED_ORIENTATION_LOGGED.add(s.image_path)
                log.info("%s: its EXIF orientation turns it to %dx%d but the panoptic PNG %s is %dx%d like the "
                         "stored pixels: using the stored pixels", s.image_path, image.shape[1], image.shape[0],
                         s.panoptic_path, expected[1], expected[0])
            return stored
        raise ValueError(_size_mismatch(s, image.shape[:2], expected))

    def load_panoptic(self, idx: int) -> tuple[np.ndarray, list[dict]]:
        """The untransformed ground truth: (segment ids int32 [H,W], segments_info) for evaluation."""
        s = self.samples[idx]
        return read_panoptic_png(s.panoptic_path), s.segments_info

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, dict]:
        s = self.samples[idx]
        image = self.load_image(idx)
        id_map, segments = self.load_panoptic(idx)
        if image.shape[:2] != id_map.shape:
            raise ValueError(_size_mismatch(s, image.shape[:2], id_map.shape))
        orig_size = image.shape[:2]
        if self.transforms is not None:
            image, id_map = self.transforms(image, id_map)
        try:
            target = encode_targets(id_map, segments, self.categories)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{s.panoptic_path} (image {s.image_id!r} in {self.ann_json}): {exc}") from None
        target["image_id"] = s.image_id
        target["file_name"] = s.file_name
        target["orig_size"] = tuple(int(v) for v in orig_size)
        img = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        if self.compact:
            target["semantic"] = target["semantic"].to(torch.uint8)
            target["instance_map"] = target["instance_map"].to(torch.int32)
            return img.contiguous(), target
        return img.float().div_(255.0), target


_STORED_ORIENTATION_LOGGED: set[Path] = set()


def _size_mismatch(s: PanopticSample, image_hw: tuple[int, int], png_hw: tuple[int, int]) -> str:
    return (f"{s.image_path} is {image_hw[1]}x{image_hw[0]} but its panoptic PNG {s.panoptic_path} is "
            f"{png_hw[1]}x{png_hw[0]} (image {s.image_id!r}): the annotation does not belong to this image")


def collate_fn(batch: Sequence[tuple[torch.Tensor, dict]]) -> tuple[list[torch.Tensor], list[dict]]:
    """Images differ in size: keep lists (the model pads them)."""
    images, targets = zip(*batch) if batch else ((), ())
    return list(images), list(targets)
