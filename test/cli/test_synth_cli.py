"""`panoptic synth`: writes a dataset in COCO panoptic layout; bad arguments exit 2 with one line."""
import json

from panoptic_ros.cli.main import main
from panoptic_ros.data import CocoPanopticDataset


def test_synth_writes_a_loadable_dataset(tmp_path, capsys):
    out = tmp_path / "ds"
    rc = main(["synth", "--out", str(out), "--num", "3", "--seed", "4", "--width", "96", "--height", "64",
               "--overlap", "heavy"])
    assert rc == 0
    assert "wrote 3 images" in capsys.readouterr().out
    info = json.loads((out / "panoptic.json").read_text())["info"]
    assert info["seed"] == 4 and info["overlap"] == "heavy"
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000001.jpg", "000002.jpg", "000003.jpg"]
    img, target = CocoPanopticDataset(out)[2]
    assert img.shape == (3, 64, 96) and target["semantic"].shape == (64, 96)


def test_synth_rejects_bad_values(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "x"), "--num", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "panoptic synth: error: --num must be at least 1" in err[0]


def test_synth_sequence(tmp_path, capsys):
    out = tmp_path / "seq"
    assert main(["synth", "--sequence", "--frames", "3", "--out", str(out), "--width", "96", "--height", "64",
                 "--fps", "5", "--seed", "2"]) == 0
    assert "wrote a 3-frame sequence" in capsys.readouterr().out
    data = json.loads((out / "panoptic.json").read_text())
    assert [i["stamp"] for i in data["images"]] == [0.0, 0.2, 0.4]
    assert all("track_id" in s for a in data["annotations"] for s in a["segments_info"])
    assert len(CocoPanopticDataset(out)) == 3
    assert main(["synth", "--sequence", "--frames", "2", "--fps", "0", "--out", str(tmp_path / "x")]) == 2
    assert "fps must be positive" in capsys.readouterr().err
