"""ViT backbones load through the real transformers path from tiny models saved here; errors name the path."""
from __future__ import annotations

import pytest
import torch

from occtrack_ros.models.detector import DetectorConfig, SlotVideoModel
from occtrack_ros.models.detector.backbones import load_vit
from occtrack_ros.models.detector.checkpoint import load_model, save_checkpoint

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_vit_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                 patch_size=16, image_size=32)
    path = tmp_path_factory.mktemp("vit")
    transformers.ViTModel(cfg, add_pooling_layer=False).save_pretrained(path)
    return path


def _vit_cfg(path, **kw):
    base = dict(backbone="dino-vits16", backbone_path=str(path), image_size=32, decoder="mlp", num_slots=3,
                slot_dim=16, slot_mlp_hidden=32, decoder_hidden=32)
    base.update(kw)
    return DetectorConfig(**base)


def test_vit_backbone_from_local_dir_trains_only_slots(tiny_vit_dir, tmp_path):
    model = SlotVideoModel(_vit_cfg(tiny_vit_dir))
    assert (model.backbone.grid, model.backbone.dim) == (2, 32)
    out = model(torch.rand(2, 2, 3, 32, 32))
    assert out["recon"].shape == (2, 2, 4, 32) and out["target"].shape == (2, 2, 4, 32)
    assert out["alpha"].shape == (2, 2, 3, 2, 2)
    model.loss(out).backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.slot_attention.to_q.weight.grad is not None
    # the checkpoint holds the slot model only; the ViT comes back from backbone_path
    save_checkpoint(tmp_path / "vit_det.pt", model)
    saved = torch.load(tmp_path / "vit_det.pt", weights_only=True)["model"]
    assert not any(k.startswith("backbone.vit.") for k in saved)
    loaded, _ = load_model(tmp_path / "vit_det.pt")
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(torch.ones(1, 3, 32, 32)), model.encode(torch.ones(1, 3, 32, 32)))


def test_dinov2_backbone_drops_cls_token(tmp_path):
    cfg = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    patch_size=14, image_size=28)
    transformers.Dinov2Model(cfg).save_pretrained(tmp_path)
    model = SlotVideoModel(_vit_cfg(tmp_path, backbone="dinov2-small", image_size=28))
    assert model.encode(torch.rand(1, 3, 28, 28)).shape == (1, 4, 32)


def test_missing_dir_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        load_vit("dino-vitb16", str(tmp_path / "no_such_dir"), 224)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_vit("dino-vitb16", str(tmp_path / "empty"), 224)


def test_wrong_model_type_is_refused(tiny_vit_dir):
    with pytest.raises(ValueError, match="holds a 'vit' model but backbone 'dinov2-small'"):
        load_vit("dinov2-small", str(tiny_vit_dir), 224)


def test_mismatched_state_dict_names_the_key(tmp_path):
    path = tmp_path / "vits16.pt"
    torch.save({"embeddings.cls_token": torch.zeros(1, 1, 5)}, path)
    with pytest.raises(ValueError, match=r"vits16.pt.*embeddings.cls_token: file \(1, 1, 5\) vs model \(1, 1, 384\)"):
        load_vit("dino-vits16", str(path), 224)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable torch state dict"):
        load_vit("dino-vits16", str(path), 224)


def test_unknown_vit_name():
    with pytest.raises(ValueError, match="unknown ViT backbone 'vit-huge'"):
        load_vit("vit-huge", None, 224)
