"""From the official COCO panoptic / Cityscapes downloads to dataset folders in this package's layout.

``prepare_coco(root)`` / ``prepare_cityscapes(root)`` check the download's layout and fail with one message listing
everything missing (with the step that makes it), then write ``OUT/<split>/{images, panoptic, panoptic.json}`` as
symbolic links into the download (nothing is copied) plus ``OUT/prepare.json`` (counts per split). Cityscapes is first
converted to COCO panoptic PNGs + JSON with cityscapesscripts' ``createPanopticImgs`` (label ids, 19 evaluated
classes, 8 of them things), written under OUT; its JSON's image names ('<id>_gtFine_leftImg8bit.png', no such file)
are replaced by the real '<city>/<id>_leftImg8bit.png'.

Expected downloads (https://cocodataset.org, https://www.cityscapes-dataset.com)::

    COCO:        ROOT/{train2017,val2017}/*.jpg                     (train2017.zip, val2017.zip)
                 ROOT/annotations/panoptic_{train2017,val2017}.json  (panoptic_annotations_trainval2017.zip)
                 ROOT/annotations/panoptic_{train2017,val2017}/*.png (the two zips inside it, unzipped)
    Cityscapes:  ROOT/leftImg8bit/{train,val}/<city>/*_leftImg8bit.png      (leftImg8bit_trainvaltest.zip)
                 ROOT/gtFine/{train,val}/<city>/*_gtFine_instanceIds.png    (gtFine_trainvaltest.zip)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..utils.json_io import write_json
from .categories import CategoryMap
from .coco_panoptic import load_json

COCO_SPLITS = ("train2017", "val2017")
CITYSCAPES_SPLITS = ("train", "val")
MAX_LISTED = 5   # missing files named per group in the error


class LayoutError(ValueError):
    """The download is incomplete; the message lists every missing part and how to get it."""


@dataclass
class Prepared:
    """What prepare_* wrote: one dataset folder per split and its counts."""
    out: Path
    splits: dict[str, dict] = field(default_factory=dict)   # split -> {"folder", "images", "annotations", ...}

    def to_json(self) -> dict:
        return {"out": str(self.out), "splits": self.splits}


def _few(names: list[str]) -> str:
    more = f" (+{len(names) - MAX_LISTED} more)" if len(names) > MAX_LISTED else ""
    return ", ".join(names[:MAX_LISTED]) + more


def _files_under(folder: Path, nested: bool) -> set[str]:
    """Names of the files in folder (nested: also 'city/name' for one level of sub-folders, as Cityscapes)."""
    out = set()
    for entry in os.scandir(folder):
        if entry.is_file():
            out.add(entry.name)
        elif nested and entry.is_dir():
            out.update(f"{entry.name}/{name}" for name in os.listdir(entry.path))
    return out


def _missing_files(data, ann_json: Path, image_dir: Path, png_dir: Path, *, cityscapes: bool) -> list[str]:
    """Problems of one split whose folders exist: images / PNGs its JSON (``data``, read from ann_json) lists that are
    not there."""
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list) \
            or not isinstance(data.get("categories"), list):
        return [f"{ann_json} is not a COCO panoptic JSON (no 'annotations' / 'categories' lists)"]
    images = {img.get("id"): img.get("file_name", "") for img in data.get("images") or [] if isinstance(img, dict)}
    have_images = _files_under(image_dir, nested=cityscapes)
    have_pngs = _files_under(png_dir, nested=False)
    no_image, no_png = [], []
    for ann in data["annotations"]:
        name = images.get(ann.get("image_id"), "")
        if name not in have_images:
            no_image.append(name or f"(no images entry for {ann.get('image_id')!r})")
        if ann.get("file_name") not in have_pngs:
            no_png.append(str(ann.get("file_name")))
    problems = []
    if no_image:
        problems.append(f"{len(no_image)} image(s) listed in {ann_json.name} missing from {image_dir}: "
                        f"{_few(no_image)}")
    if no_png:
        problems.append(f"{len(no_png)} panoptic PNG(s) listed in {ann_json.name} missing from {png_dir}: "
                        f"{_few(no_png)}")
    return problems


def _link(target: Path, link: Path) -> None:
    """link -> target (absolute); an existing symbolic link is replaced, a real file or folder is never touched."""
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        raise LayoutError(f"{link} exists and is not a symbolic link; choose another --out")
    link.symlink_to(target.resolve(), target_is_directory=target.is_dir())


def _write_split(out: Path, split: str, image_dir: Path, png_dir: Path, ann_json: Path, data: dict) -> dict:
    folder = out / split
    folder.mkdir(parents=True, exist_ok=True)
    _link(image_dir, folder / "images")
    _link(png_dir, folder / "panoptic")
    _link(ann_json, folder / "panoptic.json")
    cats = CategoryMap.from_coco(data["categories"])
    return {"folder": str(folder), "images": len(data.get("images") or []),
            "annotations": len(data["annotations"]), "categories": len(cats), "things": cats.num_things,
            "source": {"images": str(image_dir), "panoptic": str(png_dir), "json": str(ann_json)}}


def _finish(prepared: Prepared) -> Prepared:
    write_json(prepared.out / "prepare.json", prepared.to_json())
    return prepared


def check_coco(root: str | Path, splits: tuple[str, ...] = COCO_SPLITS) -> list[str]:
    """Everything missing from a COCO panoptic download (empty = complete), each with how to get it."""
    return _check_coco(Path(root), splits, {})


def _check_coco(root: Path, splits: tuple[str, ...], loaded: dict) -> list[str]:
    """check_coco; the JSON of each complete split is kept in loaded[split] (read once: train2017's is large)."""
    if not root.is_dir():
        return [f"{root} is not a folder"]
    problems = []
    for split in splits:
        image_dir, ann_json = root / split, root / "annotations" / f"panoptic_{split}.json"
        png_dir = root / "annotations" / f"panoptic_{split}"
        missing = []
        if not image_dir.is_dir():
            missing.append(f"{split}/ (unzip {split}.zip in {root})")
        if not ann_json.is_file():
            missing.append(f"annotations/panoptic_{split}.json (unzip panoptic_annotations_trainval2017.zip in {root})")
        if not png_dir.is_dir():
            zipped = root / "annotations" / f"panoptic_{split}.zip"
            hint = (f"unzip {zipped} -d {root / 'annotations'}" if zipped.is_file()
                    else "unzip annotations/panoptic_" + split + ".zip from panoptic_annotations_trainval2017.zip")
            missing.append(f"annotations/panoptic_{split}/ ({hint})")
        problems += [f"missing {m}" for m in missing]
        if not missing:
            loaded[split] = load_json(ann_json)
            problems += _missing_files(loaded[split], ann_json, image_dir, png_dir, cityscapes=False)
    return problems


def prepare_coco(root: str | Path, out: str | Path | None = None,
                 splits: tuple[str, ...] = COCO_SPLITS) -> Prepared:
    """Check a COCO panoptic download and link OUT/<split> (default OUT = ROOT/panoptic_ros); LayoutError lists
    what is missing."""
    root = Path(root)
    loaded: dict = {}
    problems = _check_coco(root, splits, loaded)
    if problems:
        raise LayoutError(f"COCO panoptic layout under {root} is incomplete: " + "; ".join(problems))
    prepared = Prepared(Path(out) if out else root / "panoptic_ros")
    for split in splits:
        prepared.splits[split] = _write_split(prepared.out, split, root / split,
                                              root / "annotations" / f"panoptic_{split}",
                                              root / "annotations" / f"panoptic_{split}.json", loaded[split])
    return _finish(prepared)


def check_cityscapes(root: str | Path, splits: tuple[str, ...] = CITYSCAPES_SPLITS) -> list[str]:
    """Everything missing from a Cityscapes download (empty = complete), each with how to get it."""
    root = Path(root)
    if not root.is_dir():
        return [f"{root} is not a folder"]
    problems = []
    for split in splits:
        image_dir, gt_dir = root / "leftImg8bit" / split, root / "gtFine" / split
        if not image_dir.is_dir():
            problems.append(f"missing leftImg8bit/{split}/ (unzip leftImg8bit_trainvaltest.zip in {root})")
        if not gt_dir.is_dir():
            problems.append(f"missing gtFine/{split}/ (unzip gtFine_trainvaltest.zip in {root})")
            continue
        gts = sorted(gt_dir.glob("*/*_gtFine_instanceIds.png"))
        if not gts:
            problems.append(f"no gtFine/{split}/<city>/*_gtFine_instanceIds.png (unzip gtFine_trainvaltest.zip in "
                            f"{root})")
        elif image_dir.is_dir():
            names = [f"{p.parent.name}/{p.name.replace('_gtFine_instanceIds.png', '_leftImg8bit.png')}" for p in gts]
            have = _files_under(image_dir, nested=True)
            absent = [n for n in names if n not in have]
            if absent:
                problems.append(f"{len(absent)} image(s) of gtFine/{split} missing from leftImg8bit/{split}: "
                                f"{_few(absent)}")
    return problems


def _convert_cityscapes_split(root: Path, out: Path, split: str) -> tuple[Path, Path]:
    """cityscapesscripts' createPanopticImgs for one split into OUT (skipped when its JSON already covers every
    *_instanceIds.png of the split) -> (json, png folder)."""
    ann_json, png_dir = out / f"cityscapes_panoptic_{split}.json", out / f"cityscapes_panoptic_{split}"
    expected = len(list((root / "gtFine" / split).glob("*/*_gtFine_instanceIds.png")))
    if ann_json.is_file() and png_dir.is_dir():
        try:
            done = len(load_json(ann_json).get("annotations", []))
        except (ValueError, AttributeError):
            done = -1
        if done == expected and len(os.listdir(png_dir)) >= expected:
            return ann_json, png_dir
    try:
        from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic
    except ImportError as exc:
        raise LayoutError(f"cityscapesscripts is not installed ({exc}); pip install -r requirements.txt") from None
    out.mkdir(parents=True, exist_ok=True)
    convert2panoptic(cityscapesPath=str(root / "gtFine"), outputFolder=str(out), setNames=[split])
    _fix_image_names(ann_json)
    return ann_json, png_dir


def _fix_image_names(ann_json: Path) -> None:
    """createPanopticImgs names each image '<id>_gtFine_leftImg8bit.png', a file that does not exist (the frame is
    '<city>/<id>_leftImg8bit.png' in leftImg8bit/<split>/): write the real relative name instead."""
    data = load_json(ann_json)
    for img in data.get("images") or []:
        image_id = str(img["id"])
        img["file_name"] = f"{image_id.split('_')[0]}/{image_id}_leftImg8bit.png"
    write_json(ann_json, data, indent=None)


def prepare_cityscapes(root: str | Path, out: str | Path | None = None,
                       splits: tuple[str, ...] = CITYSCAPES_SPLITS) -> Prepared:
    """Check a Cityscapes download, convert its fine annotations to COCO panoptic (cityscapesscripts) and link
    OUT/<split> (default OUT = ROOT/panoptic_ros); LayoutError lists what is missing."""
    root = Path(root)
    problems = check_cityscapes(root, splits)
    if problems:
        raise LayoutError(f"Cityscapes layout under {root} is incomplete: " + "; ".join(problems))
    prepared = Prepared(Path(out) if out else root / "panoptic_ros")
    for split in splits:
        ann_json, png_dir = _convert_cityscapes_split(root, prepared.out, split)
        image_dir = root / "leftImg8bit" / split
        data = load_json(ann_json)
        problems = _missing_files(data, ann_json, image_dir, png_dir, cityscapes=True)
        if problems:
            raise LayoutError(f"converted Cityscapes {split} does not match its images: " + "; ".join(problems))
        prepared.splits[split] = _write_split(prepared.out, split, image_dir, png_dir, ann_json, data)
    return _finish(prepared)
