"""The package is installable: a built wheel carries every recipe and the demo data, and an installed copy finds them
from any working directory (through package resources, not a source checkout's layout)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rewardlab.config import RECIPES, copy_recipes

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "src" / "rewardlab" / "data" / "demo"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build from a copy of the sources (pyproject, README, src) so that the build leaves nothing in the checkout
    that other runs share (build/, *.egg-info)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src_copy"
    src.mkdir()
    shutil.copy(REPO / "pyproject.toml", src)
    shutil.copy(REPO / "README.md", src)
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = root / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(src)], check=True, capture_output=True, timeout=300)
    (whl,) = out.glob("rewardlab-*.whl")
    return whl


def test_wheel_holds_every_recipe_and_the_demo_data_not_the_generator(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"rewardlab/recipes/{p.relative_to(RECIPES).as_posix()}" for p in RECIPES.rglob("*")
               if p.suffix in (".yaml", ".json")}
    assert len(shipped) >= 20 and shipped <= names, sorted(shipped - names)
    demo = {f"rewardlab/data/demo/{p.name}" for p in DEMO.iterdir() if p.suffix in (".jsonl", ".md")}
    assert {"rewardlab/data/demo/train.jsonl", "rewardlab/data/demo/process_train.jsonl"} <= demo <= names
    assert not [n for n in names if n.endswith("make_demo.py")], "the demo generator lives in scripts/"


def test_installed_wheel_finds_recipes_and_demo_from_any_folder(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import rewardlab, rewardlab.config as c, rewardlab.data.demo as d\n"
        "from rewardlab.data.mixtures import load_config as data_config\n"
        "cfg = c.load_config(c.TrainConfig, 'quickstart')\n"
        "print(rewardlab.__file__); print(c.resolve_recipe('quickstart')); print(d.demo_path('train'))\n"
        "print(cfg.data, len(data_config('data/v2').sources), c.resolve_recipe('deepspeed/zero3.json'))\n"
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, check=True, capture_output=True,
                         text=True, timeout=120).stdout.splitlines()
    for line in out[:3]:  # the installed copy, not this checkout
        assert line.startswith(str(target)), out
    assert Path(out[2]).stat().st_size > 0
    data, sources, ds = out[3].split()
    assert data == "demo" and int(sources) >= 1 and ds.startswith(str(target))


def test_copy_recipes_gives_accelerate_configs_whose_deepspeed_file_resolves(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    written = copy_recipes()  # ./recipes, the path the README's accelerate lines use
    assert len(written) == len([p for p in RECIPES.rglob("*") if p.suffix in (".yaml", ".json")])
    zero3 = (tmp_path / "recipes" / "accelerate" / "zero3.yaml").read_text()
    assert "deepspeed_config_file: recipes/deepspeed/zero3.json" in zero3 and Path("recipes/deepspeed/zero3.json").is_file()
    copy_recipes("other/place")
    moved = (tmp_path / "other/place/accelerate/zero3.yaml").read_text()
    assert "deepspeed_config_file: other/place/deepspeed/zero3.json" in moved
    with pytest.raises(FileExistsError, match="would replace 20 existing"):
        copy_recipes()
