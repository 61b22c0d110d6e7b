"""How long a run will take, said before it starts: rates learnt from the runs this process timed.

A run costs about ``detect rate x megapixels x detect factor`` (the detector's
small-object pass multiplies its work by the factor squared, its four flips by
four) plus ``classify rate x objects x classify factor`` (test-time
augmentation: eight views).  :class:`CostModel` starts from rates measured on
the project's 2-core machine (the XDF demo: YOLO 4.0 s for 0.87 megapixels,
the classifier 52 s for 2,179 objects, one torch thread each) and follows
the runs it is told about (an exponential moving average), so estimates track
the machine they run on.

>>> model = CostModel()
>>> shape = RunShape("yolo", megapixels=1.0, objects=1000)
>>> round(model.estimate(shape).total_s)
29
>>> model.record(shape, detect_s=2.0, classify_s=12.0)
>>> round(model.estimate(shape).total_s)
21
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

#: Seconds per megapixel of detector work, by method, before any run was timed.
DEFAULT_DETECT_S_PER_MP = {"yolo": 4.6, "sep": 0.6}
#: Seconds per classified object before any run was timed.
DEFAULT_CLASSIFY_S_PER_OBJECT = 0.024
#: Objects per megapixel assumed before any field was run (the XDF demo: 2,179 in 0.87).
DEFAULT_OBJECTS_PER_MP = 2500.0
#: Weight of the newest timing in the moving averages.
ALPHA = 0.5


@dataclass(frozen=True)
class RunShape:
    """What decides a run's cost.

    Attributes:
        method: ``"yolo"`` or ``"sep"``.
        megapixels: the field's size.
        upsample: the small-object pass factor (work grows as its square).
        flips: the detector's four-flip test-time augmentation.
        classify: whether the classifier runs.
        tta: the classifier's eight-view test-time augmentation.
        objects: how many objects to expect (None: the model's density of objects per megapixel).
    """

    method: str
    megapixels: float
    upsample: float = 1.0
    flips: bool = False
    classify: bool = True
    tta: bool = False
    objects: float | None = None

    @property
    def detect_work(self) -> float:
        """Megapixels the detector processes, counting the upsampling and the flips."""
        if self.method != "yolo":
            return self.megapixels
        return self.megapixels * self.upsample ** 2 * (4 if self.flips else 1)

    def classify_work(self, objects_per_mp: float = DEFAULT_OBJECTS_PER_MP) -> float:
        """Objects times views classified (0 without the classifier)."""
        if not self.classify:
            return 0.0
        n = self.objects if self.objects is not None else objects_per_mp * self.megapixels
        return n * (8 if self.tta else 1)


@dataclass(frozen=True)
class Estimate:
    """Expected seconds of a run's two model stages."""

    detect_s: float
    classify_s: float

    @property
    def total_s(self) -> float:
        return self.detect_s + self.classify_s


class CostModel:
    """Rates of the detector (s per megapixel, per method) and the classifier (s per object),
    starting from the defaults and updated by :meth:`record`; safe across threads."""

    def __init__(self) -> None:
        self._detect = dict(DEFAULT_DETECT_S_PER_MP)
        self._classify = DEFAULT_CLASSIFY_S_PER_OBJECT
        self._density = DEFAULT_OBJECTS_PER_MP
        self._lock = threading.Lock()

    def estimate(self, shape: RunShape) -> Estimate:
        """The expected detection and classification times of a run of ``shape``."""
        with self._lock:
            rate = self._detect.get(shape.method, max(self._detect.values()))
            return Estimate(rate * shape.detect_work,
                            self._classify * shape.classify_work(self._density))

    def record(self, shape: RunShape, *, detect_s: float | None = None,
               classify_s: float | None = None) -> None:
        """Learn from a finished run of ``shape`` (its timed stages; ``shape.objects`` the count found)."""
        with self._lock:
            if detect_s is not None and shape.detect_work > 0:
                old = self._detect.get(shape.method, detect_s / shape.detect_work)
                self._detect[shape.method] = (1 - ALPHA) * old + ALPHA * detect_s / shape.detect_work
            work = shape.classify_work(self._density)
            if classify_s is not None and work > 0:
                self._classify = (1 - ALPHA) * self._classify + ALPHA * classify_s / work
            if shape.objects is not None and shape.megapixels > 0:
                density = shape.objects / shape.megapixels
                self._density = (1 - ALPHA) * self._density + ALPHA * density


def say_seconds(seconds: float) -> str:
    """A duration for a message: "under 5 s", "about 40 s", "about 3 min"."""
    if seconds < 5:
        return "under 5 s"
    if seconds < 90:
        return f"about {5 * round(seconds / 5):.0f} s"
    return f"about {round(seconds / 60):.0f} min"
