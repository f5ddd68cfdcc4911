"""The confusion-matrix figure: a PNG sized to the classes, written atomically."""
from PIL import Image

from foodclf.evaluation.figures import confusion_figure, save_confusion_matrix


def test_confusion_matrix_png_shows_every_class(tmp_path):
    classes = [f"class {i}" for i in range(12)]
    matrix = [[3 if i == j else (1 if j == (i + 1) % 12 else 0) for j in range(12)] for i in range(12)]
    path = save_confusion_matrix(tmp_path / "cm.png", matrix, classes, "twelve classes")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] >= 6 * 100  # 0.6 inch a class at 100 dpi
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]  # no temporary file left
    axes = confusion_figure(matrix, classes, "twelve classes").axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()] == classes and axes.get_title() == "twelve classes"
    assert sorted({t.get_text() for t in axes.texts}) == ["0", "1", "3"]
