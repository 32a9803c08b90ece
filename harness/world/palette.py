"""Colours, shapes and sizes of the "shapes" world."""

# Object colours: well separated from each other and from every background.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "purple": (150, 60, 200),
    "orange": (240, 130, 30),
    "cyan": (40, 200, 220),
}

BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
    "beige": (235, 225, 200),
}

SHAPES = ("circle", "square", "triangle", "diamond")

# Half-extent as a fraction of the image side. At 32 px these are 3/4/5 px, i.e.
# 6/8/10 px across; integer pixel extents keep a fully empty pixel between
# neighbouring objects, which the oracle relies on to separate them.
SIZES: dict[str, float] = {"small": 3 / 32, "medium": 4 / 32, "large": 5 / 32}

SIZE_ORDER = ("small", "medium", "large")


def rgb01(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    return (rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0)
