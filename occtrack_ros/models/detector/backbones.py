"""Feature extractors behind one interface: ``forward(images (B,3,S,S) in [0,1]) -> (B, N, D)`` tokens.

- :class:`CNNEncoder`: a small convolutional encoder trained from scratch with the slots (small
  synthetic domains, CPU).
- :class:`ViTBackbone`: a frozen DINO / DINOv2 ViT from ``transformers`` for real cameras; its
  patch tokens are the features the DINOSAUR decoder reconstructs.

Each backbone reports ``grid`` (feature-map side) and ``dim`` (token width).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from occtrack_ros.models.detector.config import DetectorConfig
from occtrack_ros.models.detector.position import SoftPositionEmbed

# Real architectures of the ViTs we support; used to build a random-init model (benchmarks) and to
# load a bare state-dict file without touching the hub.
VIT_SPECS = {
    "dino-vits16": dict(hub="facebook/dino-vits16", kind="vit", hidden_size=384, num_attention_heads=6,
                        intermediate_size=1536, patch_size=16),
    "dino-vitb16": dict(hub="facebook/dino-vitb16", kind="vit", hidden_size=768, num_attention_heads=12,
                        intermediate_size=3072, patch_size=16),
    "dinov2-small": dict(hub="facebook/dinov2-small", kind="dinov2", hidden_size=384, num_attention_heads=6,
                         intermediate_size=1536, patch_size=14),
    "dinov2-base": dict(hub="facebook/dinov2-base", kind="dinov2", hidden_size=768, num_attention_heads=12,
                        intermediate_size=3072, patch_size=14),
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CNNEncoder(nn.Module):
    """Conv encoder (first layer strided) + soft position embedding + per-token MLP."""

    def __init__(self, cfg: DetectorConfig) -> None:
        super().__init__()
        c = cfg.cnn_channels
        n_down = cfg.cnn_stride.bit_length() - 1          # stride 2**n_down, one stride-2 conv per factor 2
        if cfg.cnn_stride != 2 ** n_down or n_down > cfg.cnn_layers:
            raise ValueError(f"DetectorConfig.cnn_stride={cfg.cnn_stride} must be a power of 2 with at most "
                             f"cnn_layers={cfg.cnn_layers} factors")
        layers: list[nn.Module] = []
        in_ch = 3
        for i in range(cfg.cnn_layers):
            stride = 2 if i < n_down else 1
            layers += [nn.Conv2d(in_ch, c, 5 if i == 0 else 3, stride=stride, padding=2 if i == 0 else 1),
                       nn.ReLU(inplace=True)]
            in_ch = c
        self.convs = nn.Sequential(*layers)
        self.grid = cfg.image_size // cfg.cnn_stride
        self.dim = c
        self.image_size = cfg.image_size
        self.pos = SoftPositionEmbed(c, self.grid, self.grid)
        self.norm = nn.LayerNorm(c)
        self.mlp = nn.Sequential(nn.Linear(c, c), nn.ReLU(inplace=True), nn.Linear(c, c))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [0, 1] -> (B, G*G, C)."""
        assert images.dim() == 4 and images.shape[1:] == (3, self.image_size, self.image_size), (
            f"CNNEncoder expects (B, 3, {self.image_size}, {self.image_size}), got {tuple(images.shape)}")
        x = self.convs(images * 2.0 - 1.0)               # (B, C, G, G)
        x = self.pos(x.permute(0, 2, 3, 1))               # (B, G, G, C)
        x = x.flatten(1, 2)                               # (B, G*G, C)
        return self.mlp(self.norm(x))


def _vit_config(name: str, image_size: int):
    from transformers import Dinov2Config, ViTConfig

    spec = VIT_SPECS[name]
    common = dict(hidden_size=spec["hidden_size"], num_hidden_layers=12,
                  num_attention_heads=spec["num_attention_heads"], intermediate_size=spec["intermediate_size"],
                  patch_size=spec["patch_size"], qkv_bias=True)
    if spec["kind"] == "vit":
        return ViTConfig(image_size=image_size, **common)
    return Dinov2Config(image_size=518, **common)


def _new_vit(config) -> nn.Module:
    from transformers import Dinov2Model, ViTModel

    if config.model_type == "dinov2":
        return Dinov2Model(config)
    return ViTModel(config, add_pooling_layer=False)


def load_vit(name: str, path: str | None, image_size: int, random_init: bool = False) -> nn.Module:
    """The ViT of ``name`` from a local HF directory, a state-dict file, the hub, or random (benchmarks).

    Raises FileNotFoundError naming ``path`` when it does not exist, and ValueError naming the
    offending keys or fields when a file does not fit the architecture.
    """
    if name not in VIT_SPECS:
        raise ValueError(f"unknown ViT backbone {name!r}; choose one of {sorted(VIT_SPECS)}")
    if random_init:
        return _new_vit(_vit_config(name, image_size))
    if path is None:
        from transformers import AutoModel

        return AutoModel.from_pretrained(VIT_SPECS[name]["hub"])  # user machines with internet only
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"backbone_path {str(p)!r} does not exist (backbone {name!r})")
    if p.is_dir():
        from transformers import AutoConfig, AutoModel

        if not (p / "config.json").is_file():
            raise FileNotFoundError(f"backbone_path {str(p)!r} has no config.json: not a transformers model directory")
        config = AutoConfig.from_pretrained(p)
        expected = VIT_SPECS[name]
        want_type = "dinov2" if expected["kind"] == "dinov2" else "vit"
        if config.model_type != want_type:
            raise ValueError(f"backbone_path {str(p)!r} holds a {config.model_type!r} model but backbone "
                             f"{name!r} needs {want_type!r}")
        return AutoModel.from_pretrained(p, local_files_only=True)
    # A bare state dict (.pt/.pth/.bin/.safetensors) of the named architecture.
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(p))
    else:
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - re-raised with the path
            raise ValueError(f"backbone_path {str(p)!r} is not a readable torch state dict: {exc}") from exc
    if not isinstance(state, dict):
        raise ValueError(f"backbone_path {str(p)!r} holds a {type(state).__name__}, not a state dict")
    model = _new_vit(_vit_config(name, image_size))
    own = model.state_dict()
    state = {k.removeprefix("vit.").removeprefix("dinov2."): v for k, v in state.items()
             if not k.removeprefix("vit.").startswith("pooler.")}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = []
        if wrong:
            k = wrong[0]
            detail.append(f"{len(wrong)} shape mismatch(es), e.g. {k}: file {tuple(state[k].shape)} vs "
                          f"model {tuple(own[k].shape)}")
        if missing:
            detail.append(f"{len(missing)} missing key(s), e.g. {missing[0]}")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[0]}")
        raise ValueError(f"backbone_path {str(p)!r} does not fit backbone {name!r}: " + "; ".join(detail))
    model.load_state_dict(state)
    return model


class ViTBackbone(nn.Module):
    """Frozen DINO/DINOv2 ViT: (B, 3, S, S) in [0, 1] -> (B, (S/P)^2, D) patch tokens (CLS/registers dropped)."""

    def __init__(self, cfg: DetectorConfig, model: nn.Module | None = None, random_init: bool = False) -> None:
        super().__init__()
        self.vit = model if model is not None else load_vit(cfg.backbone, cfg.backbone_path, cfg.image_size,
                                                            random_init=random_init)
        config = self.vit.config
        patch = config.patch_size
        if cfg.image_size % patch:
            raise ValueError(f"DetectorConfig.image_size={cfg.image_size} is not a multiple of the ViT patch "
                             f"size {patch}")
        self.grid = cfg.image_size // patch
        self.dim = config.hidden_size
        self.image_size = cfg.image_size
        self.is_dinov2 = config.model_type == "dinov2"
        self.num_prefix = 1 + int(getattr(config, "num_register_tokens", 0) or 0)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.vit.requires_grad_(False)
        self.vit.eval()

    def train(self, mode: bool = True) -> "ViTBackbone":
        super().train(mode)
        self.vit.eval()  # frozen: dropout/stochastic depth stay off while the slots train
        return self

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [0, 1] -> (B, G*G, D)."""
        assert images.dim() == 4 and images.shape[1:] == (3, self.image_size, self.image_size), (
            f"ViTBackbone expects (B, 3, {self.image_size}, {self.image_size}), got {tuple(images.shape)}")
        x = (images - self.mean) / self.std
        if self.is_dinov2:
            out = self.vit(pixel_values=x)
        else:
            out = self.vit(pixel_values=x, interpolate_pos_encoding=True)
        tokens = out.last_hidden_state[:, self.num_prefix:]   # (B, G*G, D)
        assert tokens.shape[1] == self.grid * self.grid, (
            f"ViT returned {tokens.shape[1]} patches, expected {self.grid}^2")
        return tokens


def build_backbone(cfg: DetectorConfig, random_init: bool = False) -> nn.Module:
    """The backbone named by ``cfg.backbone``."""
    if cfg.backbone == "cnn":
        return CNNEncoder(cfg)
    return ViTBackbone(cfg, random_init=random_init)
