"""The one typed configuration of the slot-attention detector, stored in every checkpoint."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

BACKBONES = ("cnn", "dino-vits16", "dino-vitb16", "dinov2-small", "dinov2-base")
DECODERS = ("broadcast", "mlp")
PREDICTORS = ("transformer", "mlp", "none")
SLOT_INITS = ("learned", "gaussian")

# Fields that change a parameter's shape or the meaning of the weights: a checkpoint whose value
# differs from the requested config cannot be loaded into it.
SHAPE_FIELDS = (
    "backbone", "image_size", "cnn_channels", "cnn_layers", "cnn_stride", "num_slots", "slot_dim",
    "slot_mlp_hidden", "slot_init", "predictor", "decoder", "decoder_channels", "decoder_init_size",
    "decoder_upsamples", "decoder_hidden", "decoder_attn",
    "decoder_rgb_detail",
)


@dataclass
class DetectorConfig:
    """Architecture, inference and head settings of :class:`SlotVideoModel` / :class:`ObjectDetector`."""

    # --- backbone
    backbone: str = "cnn"            # "cnn" (trained from scratch) or a frozen ViT: see BACKBONES
    backbone_path: str | None = None  # ViT only: local HF directory or state-dict file; None = hub name
    image_size: int = 64             # frames are resized to (image_size, image_size); ViT: 224 or 448
    cnn_channels: int = 64           # width of the CNN encoder
    cnn_layers: int = 4              # conv layers; the first one has stride `cnn_stride`
    cnn_stride: int = 2              # feature map side = image_size / cnn_stride
    # --- slot attention
    num_slots: int = 10              # K: must exceed the max objects in view + background slots
    slot_dim: int = 64
    slot_iters: int = 3              # refinement iterations on the first frame of a clip
    slot_iters_video: int = 2        # iterations on later frames (initialised by the predictor)
    slot_mlp_hidden: int = 128
    slot_init: str = "learned"       # "learned": K learned queries (deterministic, BO-QSA); "gaussian"
    predictor: str = "transformer"   # how slots at t-1 initialise slots at t (SAVi); "none" = re-init
    # --- decoder
    decoder: str = "broadcast"       # "broadcast" CNN decoder -> RGB (CNN backbone); "mlp" -> features (ViT)
    decoder_channels: int = 32       # broadcast decoder width
    decoder_init_size: int = 8       # broadcast grid side before the transposed convolutions
    decoder_upsamples: int = 2       # x2 transposed convs: output side = init_size * 2**upsamples
    decoder_hidden: int = 256        # MLP decoder width (DINOSAUR uses 1024 for ViT-B)
    decoder_attn: bool = False       # broadcast decoder also sees each slot's attention map (fast convergence)
    decoder_rgb_detail: float = 0.0  # > 0: slot RGB = one colour + at most this much spatial variation
    # --- training
    loss_focus: float = 0.0          # > 0: weight pixel errors by (error / mean)^this (small objects vs texture)
    loss_luma_weight: float = 1.0    # CNN: weight of brightness errors against colour (chroma) errors; < 1
    #                                  lets grey texture (walls, pillars) matter less than coloured objects
    # --- head (no learned parameters: changing these never invalidates weights)
    score_threshold: float = 0.5     # detections with objectness below this are dropped
    mask_threshold: float = 0.5      # a pixel belongs to a slot's box if it is its argmax and m >= this
    min_area_frac: float = 0.0015    # slots covering less of the image are empty (score 0)
    max_area_frac: float = 0.25      # objects never cover more: larger slots are background
    border_frac: float = 0.35        # a slot touching more of the image border than this is background
    max_extent_frac: float = 0.5     # a slot whose box spans more of the image width or height is background
    min_fill: float = 0.0            # > 0: a region filling less of its box than this is texture, not an object
    #                                  (ramp over min_fill +- 0.05; triangles and diamonds fill about 0.5)
    split_components: bool = False   # each connected part of a slot's region is its own detection (host side)
    max_parts: int = 3               # ... unless the slot has more parts than this (fragmented background)
    merge_chroma: float = 0.0        # > 0 (with split_components): touching parts of different slots whose mean
    #                                  chromaticity rgb/(r+g+b) differs by at most this are one object (an object
    #                                  two colour-specialised slots split; head.merge_same_colour_parts); 0 = off
    refine_sigma: float = 0.0        # > 0: sharpen masks at full resolution with the per-slot RGB (CNN only),
    #                                  the pixel noise std of the mixture model; 0 = decoder masks as they are
    # --- runtime
    carry_slots: bool = True         # initialise each frame's slots from the previous frame's via the predictor;
    #                                  False = fresh slots every frame (the tracker keeps identity instead)
    device: str = "cpu"
    amp: str = "bf16"                # autocast dtype on CUDA: "bf16", "fp16" or "none"
    extra: dict = field(default_factory=dict)  # free-form provenance (preset, data) kept in checkpoints

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"DetectorConfig.backbone={self.backbone!r} is unknown; choose one of {BACKBONES}")
        if self.decoder not in DECODERS:
            raise ValueError(f"DetectorConfig.decoder={self.decoder!r} is unknown; choose one of {DECODERS}")
        if self.predictor not in PREDICTORS:
            raise ValueError(f"DetectorConfig.predictor={self.predictor!r} is unknown; choose one of {PREDICTORS}")
        if self.slot_init not in SLOT_INITS:
            raise ValueError(f"DetectorConfig.slot_init={self.slot_init!r} is unknown; choose one of {SLOT_INITS}")
        if self.amp not in ("bf16", "fp16", "none"):
            raise ValueError(f"DetectorConfig.amp={self.amp!r}: choose bf16, fp16 or none")
        if self.backbone == "cnn" and self.image_size % self.cnn_stride:
            raise ValueError(f"DetectorConfig.image_size={self.image_size} is not divisible by "
                             f"cnn_stride={self.cnn_stride}")
        if self.num_slots < 2:
            raise ValueError(f"DetectorConfig.num_slots={self.num_slots}: need a background and an object slot")

    @property
    def decoder_size(self) -> int:
        """Side of the broadcast decoder's output (the reconstruction target's resolution)."""
        return self.decoder_init_size * 2 ** self.decoder_upsamples

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DetectorConfig":
        """Build from a checkpoint's dict, refusing unknown keys (a typo would otherwise be ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"DetectorConfig: unknown field(s) {unknown}")
        return cls(**data)

    def replace(self, **changes) -> "DetectorConfig":
        return dataclasses.replace(self, **changes)


# Architectures per domain; `occtrack train detector --preset-name NAME` starts from one of these.
PRESETS: dict[str, DetectorConfig] = {
    # 128x128 synthetic occlusion world (objects ~10-21 px): frames downsampled to 64x64, 32x32 tokens,
    # decoder output 64x64 sharpened to 128x128 by the mixture posterior; K=8 (2.9 objects in view on
    # average, at most ~6, plus wall and occluders). The loss ignores brightness (loss_luma_weight 0):
    # with it, slots learn the grey texture of pillars instead of the coloured objects. Fresh slots every
    # frame (carry_slots False): carried slots drifted onto the background over 200-frame sequences (box
    # recall 0.45 carried vs 0.71 fresh on seeds 24-26). Head: one detection per connected part, compact
    # (min_fill), small (max_area_frac, max_extent_frac: walls and pillars are larger); chosen on seeds 24-26.
    # The K=8 slots specialise in colours: an object whose hue lies between two slots' (magenta, hue 324)
    # was split into interleaved parts too small to report (box recall 0.69 against 0.89-0.95 for the other
    # hues, tuning seeds 30-49); touching parts of one chromaticity are joined (merge_chroma 0.05, session
    # 24; palette hues differ by >= 0.19): recall 0.894 -> 0.926, tracking HOTA 73.8 -> 75.7 on seeds 30-69.
    "occlusion": DetectorConfig(image_size=64, cnn_channels=32, cnn_layers=4, cnn_stride=2, num_slots=8,
                                slot_dim=64, decoder_channels=32, decoder_init_size=8, decoder_upsamples=3,
                                decoder_attn=True, decoder_rgb_detail=0.25, loss_focus=1.0, loss_luma_weight=0.0,
                                refine_sigma=0.1, score_threshold=0.4, mask_threshold=0.3, split_components=True,
                                max_parts=1000, min_fill=0.4, min_area_frac=0.001, max_area_frac=0.05,
                                max_extent_frac=0.3, carry_slots=False, merge_chroma=0.05),
    # sprites-mot (128x128, static camera, black background, at most 3 flat-coloured sprites of ~21 px).
    # Colour-only loss as for occlusion (2000 steps, seeds 16-17: FG-ARI 0.94, recall 0.87 vs 0.86 / 0.58 with
    # the RGB loss). Head chosen on tuning seeds 18-21 by tracking IDF1 / MOTA (session 5): fresh slots every
    # frame (carry_slots False: carried slots lost confidence on sprites they had bound, 83.2 / 73.3 -> 83.9 /
    # 74.4), objectness threshold 0.1 (85.0 / 76.7), slivers down to 13 px at the border (min_area_frac
    # 0.0008: 85.5 / 77.4; 0.0003 about the same). Touching parts of one colour are one sprite (merge_chroma
    # 0.05, session 25: tracking HOTA / MOTA 88.5 / 93.7 -> 89.1 / 94.4 on tuning seeds 18-21).
    "sprites-mot": DetectorConfig(image_size=64, cnn_channels=32, cnn_layers=4, cnn_stride=2, num_slots=5,
                                  slot_dim=64, decoder_channels=32, decoder_init_size=8, decoder_upsamples=3,
                                  decoder_attn=True, decoder_rgb_detail=0.1, loss_focus=1.0, loss_luma_weight=0.0,
                                  refine_sigma=0.1, split_components=True, score_threshold=0.1,
                                  min_area_frac=0.0008, carry_slots=False, merge_chroma=0.05),
    # Real cameras: frozen DINO ViT-B/16 features reconstructed by the DINOSAUR MLP decoder.
    "dino-vitb16": DetectorConfig(backbone="dino-vitb16", image_size=224, num_slots=10, slot_dim=256,
                                  slot_mlp_hidden=1024, decoder="mlp", decoder_hidden=1024),
    "dino-vits16": DetectorConfig(backbone="dino-vits16", image_size=224, num_slots=10, slot_dim=128,
                                  slot_mlp_hidden=512, decoder="mlp", decoder_hidden=512),
}


def preset_config(name: str) -> DetectorConfig:
    """A copy of the preset ``name``; ValueError naming the unknown name."""
    if name not in PRESETS:
        raise ValueError(f"unknown detector preset {name!r}; choose one of {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name], extra={"preset": name})
