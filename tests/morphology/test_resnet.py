"""The classifier's own ResNet18 is torchvision's: same weights from the same seed, same outputs."""

from __future__ import annotations

import subprocess
import sys

import torch
import torchvision

from galaxy_core.morphology.resnet import resnet18
from galaxy_core.shipped import REPO_ROOT


def test_same_layers_weights_and_outputs_as_torchvision():
    torch.manual_seed(3)
    theirs = torchvision.models.resnet18(weights=None, num_classes=6)
    torch.manual_seed(3)
    ours = resnet18(num_classes=6)
    a, b = theirs.state_dict(), ours.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert [n for n, _ in theirs.named_children()] == [n for n, _ in ours.named_children()]
    x = torch.randn(3, 3, 96, 96)
    assert torch.equal(theirs(x), ours(x))  # training mode: batch statistics
    theirs.eval(), ours.eval()
    with torch.no_grad():
        assert torch.equal(theirs(x), ours(x))
        assert ours(torch.randn(2, 3, 64, 64)).shape == (2, 6)


def test_the_classifier_runs_without_importing_torchvision():
    script = ("import sys, numpy as np\n"
              "from galaxy_core.morphology.classifier import Classifier\n"
              "p = Classifier.load().predict([np.zeros((40, 40, 3), np.uint8)], tta=False)\n"
              "print(p.shape, 'torchvision' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.split() == ["(1,", "6)", "False"], done.stderr
